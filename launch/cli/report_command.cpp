// `trainer report RUN_DIR... [--output FILE]`: learning curves, final and
// best figures and config differences of training runs, as one HTML file.

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/output_file.h"
#include "launch/cli/commands.h"
#include "launch/cli/report_html.h"

namespace lockstep::cli {
namespace {

bool exists(const std::string& path, bool want_dir) {
  std::error_code ec;
  return want_dir ? std::filesystem::is_directory(path, ec) : std::filesystem::is_regular_file(path, ec);
}

std::vector<std::string> path_components(const std::string& dir) {
  char resolved[PATH_MAX];
  const std::string path = ::realpath(dir.c_str(), resolved) ? resolved : dir;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = std::min(path.find('/', start), path.size());
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  if (parts.empty()) parts.push_back("/");
  return parts;
}

// The last path component; runs that share it all get as many parent
// folders as tell them apart, the same number for each of them, so a
// sweep's runs read alike ("before/lr0.004/s1", "after/lr0.002/s1"); the
// same folder given twice gets " (2)".
std::vector<std::string> unique_run_names(const std::vector<std::string>& dirs) {
  std::vector<std::vector<std::string>> parts;
  for (const std::string& d : dirs) parts.push_back(path_components(d));
  auto name = [&](size_t i, size_t depth) {
    depth = std::min(depth, parts[i].size());
    std::string s;
    for (size_t k = parts[i].size() - depth; k < parts[i].size(); ++k) s += (s.empty() ? "" : "/") + parts[i][k];
    return s;
  };
  std::map<std::string, std::vector<size_t>> by_last;  // runs that share a last component
  for (size_t i = 0; i < dirs.size(); ++i) by_last[parts[i].back()].push_back(i);
  std::vector<size_t> depth(dirs.size(), 1);
  for (const auto& [last, group] : by_last) {
    size_t deepest = 1, d = 1;
    for (size_t i : group) deepest = std::max(deepest, parts[i].size());
    for (;; ++d) {
      std::set<std::string> names;
      for (size_t i : group) names.insert(name(i, d));
      if (names.size() == group.size() || d >= deepest) break;
    }
    for (size_t i : group) depth[i] = d;
  }
  std::vector<std::string> names;
  std::map<std::string, int> seen;
  for (size_t i = 0; i < dirs.size(); ++i) {
    const std::string base = name(i, depth[i]);
    const int n = ++seen[base];
    names.push_back(n == 1 ? base : base + " (" + std::to_string(n) + ")");
  }
  return names;
}

std::string strip_trailing_slashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

ReportRun load_run(const std::string& given) {
  ReportRun run;
  run.dir = strip_trailing_slashes(given);
  if (!exists(run.dir, true))
    throw_input_error(given,
                      exists(run.dir, false) ? "not a directory (give a run directory)" : "no such run directory");
  const std::string history = run.dir + "/history.jsonl";
  if (!exists(history, false)) throw_input_error(history, "not found: is " + given + " a training run directory?");
  run.history = read_history(history);
  if (run.history.skipped_partial_line)
    std::fprintf(stderr, "warning: %s:%d: incomplete last line skipped (still being written?)\n", history.c_str(),
                 run.history.skipped_partial_line);
  const std::string config = run.dir + "/config.pbtxt";
  if (exists(config, false))
    run.config = ConfigFile::load(config).config();
  else
    std::fprintf(stderr, "warning: %s: not found; the report shows no settings for this run\n", config.c_str());
  run.finished = exists(run.dir + "/final/model.pb", false);
  return run;
}

std::string local_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

}  // namespace

int run_report(const Args& args, Runtime& runtime) {
  if (runtime.world().rank() != 0) return 0;
  std::vector<ReportRun> runs;
  for (const std::string& dir : args.positional) runs.push_back(load_run(dir));
  const std::vector<std::string> names = unique_run_names(args.positional);
  size_t epochs = 0;
  for (size_t i = 0; i < runs.size(); ++i) runs[i].name = names[i], epochs += runs[i].history.epochs.size();
  const std::string output = args.has("output") ? args.get("output")
                             : runs.size() == 1 ? runs[0].dir + "/report.html"
                                                : std::string("report.html");
  // Written next to its destination and renamed: a browser reloading the
  // page of a running job never sees half a file.
  replace_file(output, report_html(runs, local_time_now()));
  std::printf("wrote %s (%zu run%s, %zu epoch%s)\n", output.c_str(), runs.size(), runs.size() == 1 ? "" : "s", epochs,
              epochs == 1 ? "" : "s");
  return 0;
}

}  // namespace lockstep::cli
