#include "launch/cli/args.h"

#include <sys/stat.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <set>

#include "core/error.h"

namespace lockstep::cli {
namespace {

const OptionSpec kModel{"model", "DIR", "the model to use: a run's final/ or best/ folder (or the model.pb in it)"};
const OptionSpec kCheckpoint{"checkpoint", "FILE", "a checkpoint file instead of --model"};
const OptionSpec kOn{"on", "validation|train", "score the config's validation data (default) or its training data"};
const OptionSpec kData{"data", "FILE[,LABELS]",
                       "score another file with the training data's settings (CSV; FEATURES,LABELS for NPY and IDX)"};

}  // namespace

const std::vector<CommandSpec>& command_specs() {
  static const std::vector<CommandSpec> specs = {
      {"train", "trainer train CONFIG [--resume auto|PATH | --overwrite] [--trace FILE] [--set FIELD=VALUE ...]",
       "train a model; under mpirun/srun every rank trains a replica on its share of each global batch", 1,
       "CONFIG: protobuf text (.pbtxt) or JSON (.json) of lockstep.TrainConfig",
       {{"resume", "auto|PATH", "continue from the newest checkpoint of run_dir that verifies (auto) or from PATH"},
        {"overwrite", "", "start over in a run_dir that holds a run (removes only the files a run writes)"},
        {"trace", "FILE",
         "write a timeline (Chrome trace / Perfetto JSON: forward and backward per layer, loss, optimizer, batch "
         "assembly, gradient buckets and waits, collectives, validation, checkpoints) to FILE, relative to the "
         "working directory; with several ranks one file per rank, FILE with .rankR before its extension; open it "
         "in https://ui.perfetto.dev or chrome://tracing (same as --set profile.trace=FILE)"}},
       true,
       {"trainer train launch/configs/fashion_mlp.pbtxt", "trainer train cfg.pbtxt --trace trace.json --set max_steps=50", "trainer train cfg.pbtxt --set epochs=5 --set optimizer.adam.learning_rate=0.01",
        "mpirun -np 4 trainer train cfg.pbtxt --resume auto"}},
      {"evaluate",
       "trainer evaluate [CONFIG] (--model DIR|--checkpoint FILE) [--on validation|train | --data FILE[,LABELS]] "
       "[--json] [--set ...]",
       "loss, accuracy and a per-class report of a saved model", kOptionalOne,
       "CONFIG: optional; without it the config saved in the checkpoint is used",
       {kModel, kCheckpoint, kOn, kData, {"json", "", "print one JSON object"}}, true,
       {"trainer evaluate --model runs/fashion_mlp/final", "trainer evaluate --model runs/x/best --data test.csv --json"}},
      {"predict",
       "trainer predict [CONFIG] (--model DIR|--checkpoint FILE) [--on validation|train | --data FILE[,LABELS]] "
       "[--output FILE] [--set ...]",
       "write index,predicted,p0..pK per sample (predictions.csv next to the model by default)", kOptionalOne,
       "CONFIG: optional; without it the config saved in the checkpoint is used",
       {kModel, kCheckpoint, kOn, kData, {"output", "FILE", "where to write (folders are created)"}}, true,
       {"trainer predict --model runs/seed_mlp/final --data new.csv --output out/p.csv"}},
      {"summary", "trainer summary CONFIG [--set FIELD=VALUE ...]",
       "Keras-like model.summary(): layers, output shapes, parameters, BatchNorm synchronization", 1,
       "CONFIG: the config to describe", {}, true, {"trainer summary launch/configs/fashion_cnn.pbtxt"}},
      {"inspect", "trainer inspect CHECKPOINT [--json]", "what a checkpoint holds: progress, history, tensors", 1,
       "CHECKPOINT: a checkpoint or model file", {{"json", "", "every tensor's values as JSON"}}, false,
       {"trainer inspect runs/seed_mlp/final/model.pb"}},
      {"export", "trainer export CHECKPOINT OUTPUT [--format lockstep|onnx|torch]",
       "a trained model for inference: ONNX (opset 13), PyTorch (state_dict + module code, by "
       "launch/to_torch.py) or lockstep's own format (parameters and moving statistics)",
       2, "CHECKPOINT OUTPUT: the checkpoint to read and the file to write",
       {{"format", "lockstep|onnx|torch",
         "what to write (default: onnx for a .onnx OUTPUT, torch for .pt, lockstep otherwise)"}},
       false,
       {"trainer export runs/x/final/model.pb model.onnx", "trainer export runs/x/final/model.pb model.pt",
        "trainer export runs/x/checkpoints/ckpt-00000500.pb model.pb"}},
      {"report", "trainer report RUN_DIR... [--output FILE]",
       "one HTML file: learning curves, best epochs, config differences of the runs", -1,
       "RUN_DIR...: one or more run directories (finished or still running)",
       {{"output", "FILE", "where to write the HTML (default: report.html in the first run_dir)"}}, false,
       {"trainer report runs/lr_0.1 runs/lr_0.01 --output lr.html"}},
  };
  return specs;
}

std::string usage_text() {
  std::string s = "usage:\n";
  for (const auto& c : command_specs()) s += "  " + c.usage + "\n";
  s += "  trainer --version   (lockstep version, git revision, compiler, BLAS, MPI library)\n";
  s += "  trainer help COMMAND   (every option of a command, with examples)\n";
  s += "CONFIG is protobuf text (.pbtxt) or JSON (.json). Under mpirun/srun every rank runs the same command.\n";
  return s;
}

namespace {

const CommandSpec* find_command(const std::string& name) {
  const auto& specs = command_specs();
  const auto it = std::find_if(specs.begin(), specs.end(), [&](const CommandSpec& s) { return s.name == name; });
  return it == specs.end() ? nullptr : &*it;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> option_names(const CommandSpec& spec) {
  std::vector<std::string> names{"help"};
  if (spec.allows_set) names.push_back("set");
  for (const OptionSpec& o : spec.options) names.push_back(o.name);
  return names;
}

// CLI11 would take an unknown --option for a positional; name it, and the
// closest known option, first.
void check_option_names(const CommandSpec& spec, int argc, char** argv) {
  const std::vector<std::string> known = option_names(spec);
  std::set<std::string> seen;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) continue;
    const std::string name = arg.substr(2, arg.find('=') - 2);
    if (std::find(known.begin(), known.end(), name) != known.end()) {
      if (name == "set" && arg.find('=') == std::string::npos) ++i;  // its value may start with "--"
      if (name != "set" && name != "help" && !seen.insert(name).second)
        throw_input_error("usage", "--" + name + " given twice");
      continue;
    }
    std::string closest;
    size_t best = 3;  // suggest only near misses
    for (const std::string& k : known)
      if (const size_t d = edit_distance(name, k); d < best) best = d, closest = k;
    throw_input_error("usage", "'" + spec.name + "' has no option --" + name +
                                   (closest.empty() ? "" : " (did you mean --" + closest + "?)") + "\n  " + spec.usage);
  }
}

// Builds the CLI11 parser of one command, storing into `a`.
std::unique_ptr<CLI::App> make_app(const CommandSpec& spec, Args& a, std::map<std::string, std::string>& values,
                                   std::map<std::string, bool>& flags) {
  auto app = std::make_unique<CLI::App>(spec.summary, "trainer " + spec.name);
  app->set_help_flag("-h,--help", "print this help and exit");
  const std::string positional_name = spec.positional_help.substr(0, spec.positional_help.find(':'));
  auto* pos = app->add_option(positional_name, a.positional, spec.positional_help.substr(positional_name.size() + 2));
  pos->expected(0, 1 << 20);  // counted by check_combinations, with lockstep's message
  if (spec.allows_set)
    app->add_option("--set", a.sets, "override one config field, e.g. --set epochs=5, --set model.layers[2].dropout.rate=0.3")
        ->type_name("FIELD=VALUE")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  for (const OptionSpec& o : spec.options) {
    if (o.value.empty()) app->add_flag("--" + o.name, flags[o.name], o.help);
    else app->add_option("--" + o.name, values[o.name], o.help)->type_name(o.value)->expected(1);
  }
  std::string footer = "Examples:";
  for (const std::string& e : spec.examples) footer += "\n  " + e;
  app->footer(footer);
  return app;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void check_combinations(const Args& a, const CommandSpec& spec) {
  const size_t given = a.positional.size();
  if (spec.positionals == kOptionalOne && given > 1)
    throw_input_error("usage", "'" + a.command + "' takes at most one argument, got " + std::to_string(given) +
                                   "\n  " + spec.usage);
  if (spec.positionals == -1 && given == 0)
    throw_input_error("usage", "'" + a.command + "' needs at least one argument\n  " + spec.usage);
  if (spec.positionals >= 0 && static_cast<int>(given) != spec.positionals)
    throw_input_error("usage", "'" + a.command + "' takes " + std::to_string(spec.positionals) + " argument(s), got " +
                                   std::to_string(given) + "\n  " + spec.usage);
  if (a.has("model") && a.has("checkpoint")) throw_input_error("usage", "give --model or --checkpoint, not both");
  if ((a.command == "evaluate" || a.command == "predict") && !a.has("model") && !a.has("checkpoint"))
    throw_input_error("usage", "'" + a.command + "' needs --model DIR or --checkpoint FILE\n  " + spec.usage);
  if (a.has("on") && a.has("data")) throw_input_error("usage", "give --on or --data, not both");
  if (a.has("on") && a.get("on") != "validation" && a.get("on") != "train")
    throw_input_error("usage", "--on takes 'validation' or 'train', got '" + a.get("on") + "'");
  // A file to write that names an existing folder cannot be written: said
  // before any work, as bad usage (exit 2), instead of failing at the end
  // with the rename's EISDIR or EBUSY (exit 1).
  std::vector<std::string> outputs;
  if (a.has("output")) outputs.push_back(a.get("output"));
  if (a.command == "export" && given == 2) outputs.push_back(a.positional[1]);
  for (const std::string& out : outputs)
    if (is_directory(out)) throw_input_error(out, "is a directory: give the name of a file to write");
}

}  // namespace

std::string command_help(const std::string& command) {
  const CommandSpec* spec = find_command(command);
  if (!spec) throw_input_error("usage", "unknown command '" + command + "'\n" + usage_text());
  Args scratch;
  std::map<std::string, std::string> values;
  std::map<std::string, bool> flags;
  return make_app(*spec, scratch, values, flags)->help();
}

Args parse_args(int argc, char** argv) {
  Args a;
  if (argc < 2) throw_input_error("usage", "no command given\n" + usage_text());
  a.command = argv[1];
  if (a.command == "--help" || a.command == "-h" || a.command == "help") {
    if (argc > 3) throw_input_error("usage", "'help' takes at most one command");
    if (argc == 3) command_help(a.help_topic = argv[2]);  // checks the name
    a.command = "help";
    return a;
  }
  if (a.command == "--version" || a.command == "version") {
    if (argc > 2) throw_input_error("usage", "'--version' takes no arguments");
    a.command = "version";
    return a;
  }
  if (a.command == "completion" || a.command == "manpage") return a;  // build-time generators, undocumented
  const CommandSpec* spec = find_command(a.command);
  if (!spec) throw_input_error("usage", "unknown command '" + a.command + "'\n" + usage_text());
  check_option_names(*spec, argc, argv);
  std::map<std::string, std::string> values;
  std::map<std::string, bool> flags;
  auto app = make_app(*spec, a, values, flags);
  try {
    app->parse(argc - 1, argv + 1);
  } catch (const CLI::CallForHelp&) {
    a.switches["help"] = true;
    a.help_topic = a.command;
    return a;
  } catch (const CLI::ParseError& e) {
    throw_input_error("usage", std::string(e.what()) + "\n  " + spec->usage);
  }
  for (const OptionSpec& o : spec->options) {
    if (o.value.empty() && flags[o.name]) a.switches[o.name] = true;
    if (!o.value.empty() && app->count("--" + o.name) > 0) a.options[o.name] = values[o.name];
  }
  check_combinations(a, *spec);
  return a;
}

// roff for man(1), from the same table as the help: it cannot drift.
std::string man_page(const std::string& version) {
  auto escape = [](std::string t) {
    std::string out;
    for (char c : t) out += c == '-' ? std::string("\\-") : c == '\\' ? std::string("\\e") : std::string(1, c);
    return out;
  };
  std::string m = ".TH TRAINER 1 \"\" \"lockstep " + version + "\" \"User Commands\"\n";
  m += ".SH NAME\ntrainer \\- data\\-parallel neural\\-network training on CPU clusters (lockstep)\n.SH SYNOPSIS\n";
  for (const CommandSpec& c : command_specs()) m += ".B " + escape(c.usage) + "\n.br\n";
  m += ".B trainer \\-\\-version\n.SH DESCRIPTION\n"
       "Keras models described in protobuf text or JSON, trained on one process or under mpirun/srun "
       "with synchronized BatchNormalization; N ranks x B samples train like one batch of N*B. "
       "See README.md for the configuration reference.\n.SH COMMANDS\n";
  for (const CommandSpec& c : command_specs()) {
    m += ".SS " + c.name + "\n" + escape(c.summary) + ".\n.TP\n.I " + escape(c.positional_help) + "\n";
    if (c.allows_set) m += ".TP\n.BI \\-\\-set \" FIELD=VALUE\"\noverride one config field (repeatable)\n";
    for (const OptionSpec& o : c.options)
      m += ".TP\n.B \\-\\-" + escape(o.name) + (o.value.empty() ? "" : " " + escape(o.value)) + "\n" + escape(o.help) + "\n";
    for (const std::string& e : c.examples) m += ".PP\n.nf\n" + escape(e) + "\n.fi\n";
  }
  m += ".SH EXIT STATUS\n0 done; 1 runtime or I/O error; 2 bad input or usage; 75 stopped at a checkpoint "
       "(pre-emption: resume with \\-\\-resume auto).\n";
  return m;
}

std::string bash_completion() {
  std::string commands, cases;
  for (const CommandSpec& c : command_specs()) {
    commands += c.name + " ";
    std::string options = "--help";
    if (c.allows_set) options += " --set";
    for (const OptionSpec& o : c.options) options += " --" + o.name;
    cases += "    " + c.name + ") opts=\"" + options + "\" ;;\n";
  }
  return "# bash completion for trainer (lockstep); generated by `trainer completion`\n"
         "_lockstep_trainer() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} opts\n"
         "  if [[ $COMP_CWORD -eq 1 ]]; then\n"
         "    COMPREPLY=($(compgen -W \"" + commands + "help --help --version\" -- \"$cur\")); return\n"
         "  fi\n"
         "  case ${COMP_WORDS[1]} in\n" + cases +
         "    help) COMPREPLY=($(compgen -W \"" + commands + "\" -- \"$cur\")); return ;;\n"
         "    *) opts=\"\" ;;\n"
         "  esac\n"
         "  case ${COMP_WORDS[COMP_CWORD-1]} in\n"
         "    --on) COMPREPLY=($(compgen -W \"validation train\" -- \"$cur\")); return ;;\n"
         "    --resume) COMPREPLY=($(compgen -W \"auto\" -- \"$cur\") $(compgen -f -- \"$cur\")); return ;;\n"
         "    --set) return ;;\n"
         "  esac\n"
         "  if [[ $cur == --* ]]; then COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"));\n"
         "  else COMPREPLY=($(compgen -f -- \"$cur\")); fi\n"
         "}\n"
         "complete -o filenames -F _lockstep_trainer trainer\n";
}

}  // namespace lockstep::cli
