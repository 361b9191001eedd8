// Command-line arguments of `trainer`: a subcommand, positionals and
// options, parsed with CLI11 (Debian's libcli11-dev) from one table of
// documented commands, which also gives `trainer help COMMAND`, the man
// page and the bash completion. Every option is checked (unknown ones, with
// the closest known name; missing values; repeats; conflicts) before any
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
  std::string help_topic;                         // `trainer help COMMAND`

  bool has(const std::string& name) const { return options.count(name) > 0; }
  const std::string& get(const std::string& name) const { return options.at(name); }
  bool flag(const std::string& name) const { return switches.count(name) > 0; }
};

constexpr int kOptionalOne = -2;

struct OptionSpec {
  std::string name;   // without "--"
  std::string value;  // the value's name in help ("DIR"); empty: a switch
  std::string help;
};

struct CommandSpec {
  std::string name;
  std::string usage;
  std::string summary;                      // one line
  int positionals;                          // exact count; -1: one or more; kOptionalOne: 0 or 1
  std::string positional_help;              // "CONFIG: ..."
  std::vector<OptionSpec> options;          // besides --set and --help
  bool allows_set;
  std::vector<std::string> examples;
};

const std::vector<CommandSpec>& command_specs();
std::string usage_text();
// Every option of one command, described, with examples (`trainer help train`).
std::string command_help(const std::string& command);
// A bash completion script for `trainer` (commands, options, file arguments).
std::string bash_completion();
// The man page trainer.1 (roff), generated at build time.
std::string man_page(const std::string& version);

// Throws lockstep::Error (exit status 2) with WHERE = "usage".
Args parse_args(int argc, char** argv);

}  // namespace lockstep::cli
