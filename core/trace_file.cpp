#include "core/trace_file.h"

#include <sys/stat.h>

#include <cstdio>

#include "core/error.h"

namespace lockstep {
namespace {

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// Said before training, as bad input: a timeline that cannot be written
// would otherwise fail only after the whole run.
std::unique_ptr<OutputFile> open_trace_file(const std::string& path, const std::string& where) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw_input_error(where, "'" + path + "' is a directory: give the name of a file to write");
  const std::string folder = folder_of(path);
  if (::stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw_input_error(where, "'" + path + "': the folder '" + folder + "' does not exist (create it first)");
  try {
    return std::make_unique<OutputFile>(path, OutputFile::Mode::kTruncate);
  } catch (const Error& e) {
    throw_input_error(where, e.what());
  }
}

}  // namespace

std::string trace_path_for_rank(const std::string& path, int rank, int ranks) {
  if (ranks <= 1) return path;
  const size_t slash = path.rfind('/');
  const size_t name_start = slash == std::string::npos ? 0 : slash + 1;
  size_t dot = path.rfind('.');
  // No extension, or only a leading dot (".trace"): append.
  if (dot == std::string::npos || dot <= name_start) dot = path.size();
  return path.substr(0, dot) + ".rank" + std::to_string(rank) + path.substr(dot);
}

TraceSession::TraceSession(const std::string& path, size_t capacity, int rank, int ranks, const std::string& where)
    : path_(trace_path_for_rank(path, rank, ranks)), rank_(rank), ranks_(ranks), recorder_(capacity) {
  file_ = open_trace_file(path_, where);
}

void TraceSession::start(Communicator& world) {
  // Time zero is the moment every rank leaves this barrier, so the ranks'
  // timelines line up (to the barrier's exit skew) when merged.
  world.barrier();
  recorder_.set_origin_now();
  set_active_trace(&recorder_);
}

TraceSession::~TraceSession() {
  if (active_trace() == &recorder_) set_active_trace(nullptr);
  if (!file_) return;
  recorder_.clear();
  try {
    finish();
  } catch (...) {  // another error is already ending the run
  }
}

void TraceSession::finish() {
  if (active_trace() == &recorder_) set_active_trace(nullptr);
  if (!file_) return;
  std::unique_ptr<OutputFile> file = std::move(file_);
  recorder_.write_json(*file, rank_, ranks_);
  file->close();
  if (recorder_.dropped() > 0)
    std::fprintf(stderr, "warning: %s: %zu events past profile.max_events (%zu) were not recorded\n", path_.c_str(),
                 recorder_.dropped(), recorder_.recorded());
}

}  // namespace lockstep
