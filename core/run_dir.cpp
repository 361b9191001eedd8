#include "core/run_dir.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/output_file.h"

namespace lockstep {

std::string run_file(const std::string& run_dir, const std::string& name) { return run_dir + "/" + name; }

void make_dirs(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
      throw_runtime_error(partial, std::string("cannot create folder: ") + std::strerror(errno));
  }
}

void write_text_file(const std::string& path, const std::string& text, bool append, bool sync) {
  OutputFile out(path, append ? OutputFile::Mode::kAppend : OutputFile::Mode::kTruncate);
  out.write(text);
  out.close(sync);
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void remove_run_files(const std::string& run_dir) {
  for (const std::string& path : list_checkpoints(run_dir)) ::unlink(path.c_str());
  for (const char* name : {"history.jsonl", "history.csv", "config.pbtxt", "report.html", "final/model.pb",
                           "final/config.pbtxt", "best/model.pb", "best/config.pbtxt"})
    ::unlink(run_file(run_dir, name).c_str());
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
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      // Exactly "ckpt-<digits>.pb": temporary files (".pb.tmp.PID") are not checkpoints.
      const std::string name = e->d_name;
      if (name.size() <= 8 || name.compare(0, 5, "ckpt-") != 0 || name.compare(name.size() - 3, 3, ".pb") != 0)
        continue;
      const std::string digits = name.substr(5, name.size() - 8);
      if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
      found.emplace_back(std::stoll(digits), dir + "/" + name);
    }
    ::closedir(d);
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
  for (size_t i = static_cast<size_t>(keep); i < paths.size(); ++i) ::unlink(paths[i].c_str());
}

void remove_stale_temporaries(const std::string& run_dir) {
  const std::string dir = checkpoint_dir(run_dir);
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      // "ckpt-<step>.pb.tmp.<pid>": a save that never reached its rename.
      if (name.compare(0, 5, "ckpt-") == 0 && name.find(".pb.tmp.") != std::string::npos)
        ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
  }
}

}  // namespace lockstep
