#include "launch/cli/args.h"

#include <algorithm>

#include "core/error.h"

namespace lockstep::cli {

const std::vector<CommandSpec>& command_specs() {
  static const std::vector<CommandSpec> specs = {
      {"train", "trainer train CONFIG [--resume auto|PATH | --overwrite] [--set FIELD=VALUE ...]", 1, {"resume"},
       {"overwrite"}, true},
      {"evaluate",
       "trainer evaluate [CONFIG] (--model DIR|--checkpoint FILE) [--on validation|train | --data FILE[,LABELS]] "
       "[--json] [--set ...]   (no CONFIG: the checkpoint's own)",
       kOptionalOne, {"model", "checkpoint", "on", "data"}, {"json"}, true},
      {"predict",
       "trainer predict [CONFIG] (--model DIR|--checkpoint FILE) [--on validation|train | --data FILE[,LABELS]] "
       "[--output FILE] [--set ...]   (default output: predictions.csv next to the model)",
       kOptionalOne, {"model", "checkpoint", "on", "data", "output"}, {}, true},
      {"summary", "trainer summary CONFIG [--set FIELD=VALUE ...]", 1, {}, {}, true},
      {"inspect", "trainer inspect CHECKPOINT [--json]", 1, {}, {"json"}, false},
      {"export", "trainer export CHECKPOINT OUTPUT   (inference-only: parameters and moving statistics)", 2, {}, {},
       false},
      {"report", "trainer report RUN_DIR... [--output FILE]   (HTML: learning curves, best epochs, config differences)",
       -1, {"output"}, {}, false},
  };
  return specs;
}

std::string usage_text() {
  std::string s = "usage:\n";
  for (const auto& c : command_specs()) s += "  " + c.usage + "\n";
  s += "  trainer --version   (lockstep version, git revision, compiler, BLAS, MPI library)\n";
  s += "CONFIG is protobuf text (.pbtxt) or JSON (.json). Under mpirun/srun every rank runs the same command.\n";
  return s;
}

Args parse_args(int argc, char** argv) {
  Args a;
  if (argc < 2) throw_input_error("usage", "no command given\n" + usage_text());
  a.command = argv[1];
  if (a.command == "--help" || a.command == "-h" || a.command == "help") {
    a.command = "help";
    return a;
  }
  if (a.command == "--version" || a.command == "version") {
    if (argc > 2) throw_input_error("usage", "'--version' takes no arguments");
    a.command = "version";
    return a;
  }
  const auto& specs = command_specs();
  const auto it = std::find_if(specs.begin(), specs.end(), [&](const CommandSpec& s) { return s.name == a.command; });
  if (it == specs.end()) throw_input_error("usage", "unknown command '" + a.command + "'\n" + usage_text());
  const CommandSpec& spec = *it;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      a.switches["help"] = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      a.positional.push_back(arg);
      continue;
    }
    if (arg == "--set" || arg.rfind("--set=", 0) == 0) {
      if (!spec.allows_set) throw_input_error("usage", "'" + a.command + "' takes no --set");
      if (arg != "--set") a.sets.push_back(arg.substr(6));
      else if (i + 1 < argc) a.sets.push_back(argv[++i]);
      else throw_input_error("usage", "--set needs FIELD=VALUE");
      continue;
    }
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) value = name.substr(eq + 1), name = name.substr(0, eq);
    const bool takes_value =
        std::find(spec.value_options.begin(), spec.value_options.end(), name) != spec.value_options.end();
    const bool is_switch =
        std::find(spec.switch_options.begin(), spec.switch_options.end(), name) != spec.switch_options.end();
    if (!takes_value && !is_switch)
      throw_input_error("usage", "'" + a.command + "' has no option --" + name + "\n  " + spec.usage);
    if (is_switch) {
      a.switches[name] = true;
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc) throw_input_error("usage", "--" + name + " needs a value\n  " + spec.usage);
      value = argv[++i];
    }
    if (a.options.count(name)) throw_input_error("usage", "--" + name + " given twice");
    a.options[name] = value;
  }
  if (a.flag("help")) return a;
  if (spec.positionals == -1 && a.positional.empty())
    throw_input_error("usage", "'" + a.command + "' needs at least one argument\n  " + spec.usage);
  if (spec.positionals == kOptionalOne && a.positional.size() > 1)
    throw_input_error("usage", "'" + a.command + "' takes at most one argument, got " +
                                   std::to_string(a.positional.size()) + "\n  " + spec.usage);
  if (spec.positionals >= 0 && static_cast<int>(a.positional.size()) != spec.positionals)
    throw_input_error("usage", "'" + a.command + "' takes " + std::to_string(spec.positionals) +
                                   " argument(s), got " + std::to_string(a.positional.size()) + "\n  " + spec.usage);
  if (a.has("model") && a.has("checkpoint"))
    throw_input_error("usage", "give --model or --checkpoint, not both");
  if ((a.command == "evaluate" || a.command == "predict") && !a.has("model") && !a.has("checkpoint"))
    throw_input_error("usage", "'" + a.command + "' needs --model DIR or --checkpoint FILE\n  " + spec.usage);
  if (a.has("on") && a.has("data")) throw_input_error("usage", "give --on or --data, not both");
  if (a.has("on") && a.get("on") != "validation" && a.get("on") != "train")
    throw_input_error("usage", "--on takes 'validation' or 'train', got '" + a.get("on") + "'");
  return a;
}

}  // namespace lockstep::cli
