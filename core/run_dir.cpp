#include "core/run_dir.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "core/error.h"
#include "core/output_file.h"

namespace lockstep {
namespace fs = std::filesystem;
namespace {

// Removes a file if it is there; a file that cannot be removed is left
// (as unlink(2) without a check did): what calls this cleans up, best effort.
void remove_if_present(const std::string& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

// The names of the entries of `dir`; none if it cannot be read.
std::vector<std::string> entry_names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  return names;
}

}  // namespace

std::string run_file(const std::string& run_dir, const std::string& name) { return run_dir + "/" + name; }

// The first folder of `path` that does not exist: the one that could not be
// created, which the error should name (not the deepest one).
static std::string first_missing_folder(const std::string& path) {
  fs::path at;
  for (const fs::path& part : fs::path(path)) {
    at /= part;
    std::error_code ec;
    if (!fs::exists(at, ec)) return at.string();
  }
  return path;
}

void make_dirs(const std::string& path) {
  if (path.empty()) return;  // the current folder
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw_runtime_error(first_missing_folder(path), "cannot create folder: " + ec.message());
}

void write_text_file(const std::string& path, const std::string& text, bool append, bool sync) {
  OutputFile out(path, append ? OutputFile::Mode::kAppend : OutputFile::Mode::kTruncate);
  out.write(text);
  out.close(sync);
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void remove_run_files(const std::string& run_dir) {
  for (const std::string& path : list_checkpoints(run_dir)) remove_if_present(path);
  for (const char* name : {"history.jsonl", "history.csv", "config.pbtxt", "report.html", "final/model.pb",
                           "final/config.pbtxt", "best/model.pb", "best/config.pbtxt"})
    remove_if_present(run_file(run_dir, name));
}

std::string checkpoint_dir(const std::string& run_dir) { return run_dir + "/checkpoints"; }

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "/ckpt-%08lld.pb", static_cast<long long>(step));
  return checkpoint_dir(run_dir) + name;
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<long long, std::string>> found;
  const std::string dir = checkpoint_dir(run_dir);
  for (const std::string& name : entry_names(dir)) {
    // Exactly "ckpt-<digits>.pb": temporary files (".pb.tmp.PID") are not checkpoints.
    if (name.size() <= 8 || name.compare(0, 5, "ckpt-") != 0 || name.compare(name.size() - 3, 3, ".pb") != 0)
      continue;
    const std::string digits = name.substr(5, name.size() - 8);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    found.emplace_back(std::stoll(digits), dir + "/" + name);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> paths;
  for (auto& f : found) paths.push_back(f.second);
  return paths;
}

std::optional<std::string> newest_good_checkpoint(const std::string& run_dir) {
  for (const std::string& path : list_checkpoints(run_dir)) {
    try {
      read_checkpoint(path);
      return path;
    } catch (const Error& e) {
      std::fprintf(stderr, "warning: skipping damaged checkpoint %s\n", e.what());
    }
  }
  return std::nullopt;
}

void prune_checkpoints(const std::string& run_dir, int keep) {
  if (keep <= 0) return;
  const auto paths = list_checkpoints(run_dir);
  for (size_t i = static_cast<size_t>(keep); i < paths.size(); ++i) remove_if_present(paths[i]);
}

void remove_stale_temporaries(const std::string& run_dir) {
  const std::string dir = checkpoint_dir(run_dir);
  for (const std::string& name : entry_names(dir)) {
    // "ckpt-<step>.pb.tmp.<pid>": a save that never reached its rename.
    if (name.compare(0, 5, "ckpt-") == 0 && name.find(".pb.tmp.") != std::string::npos)
      remove_if_present(dir + "/" + name);
  }
}

}  // namespace lockstep
