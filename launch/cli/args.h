// Command-line arguments of `trainer`: a subcommand, positionals and flags.
// Every flag is checked (unknown ones, missing values, conflicts) before any
// work starts.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace lockstep::cli {

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::vector<std::string> sets;                  // --set FIELD=VALUE, in order
  std::map<std::string, std::string> options;     // --name VALUE
  std::map<std::string, bool> switches;           // --json, --help

  bool has(const std::string& name) const { return options.count(name) > 0; }
  const std::string& get(const std::string& name) const { return options.at(name); }
  bool flag(const std::string& name) const { return switches.count(name) > 0; }
};

constexpr int kOptionalOne = -2;

struct CommandSpec {
  std::string name;
  std::string usage;
  int positionals;                          // exact count; -1: one or more; kOptionalOne: 0 or 1
  std::vector<std::string> value_options;   // take a value
  std::vector<std::string> switch_options;  // no value
  bool allows_set;
};

const std::vector<CommandSpec>& command_specs();
std::string usage_text();

// Throws lockstep::Error (exit status 2) with WHERE = "usage".
Args parse_args(int argc, char** argv);

}  // namespace lockstep::cli
