#include "core/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace lockstep {
namespace {

constexpr size_t kBufferBytes = size_t{64} << 10;

[[noreturn]] void os_error(const std::string& path, const char* action, int error) {
  throw_runtime_error(path, std::string(action) + ": " + std::strerror(error));
}

}  // namespace

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) {  // no progress and no reason: report it as a full device
      errno = ENOSPC;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool sync_file(int fd) { return ::fsync(fd) == 0 || errno == EINVAL; }

void sync_parent_folder(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) os_error(dir, "cannot open the folder to sync it", errno);
  const bool synced = sync_file(fd);
  const int error = errno;
  ::close(fd);
  if (!synced) os_error(dir, "cannot sync the folder", error);
}

OutputFile::OutputFile(std::string path, Mode mode) : path_(std::move(path)) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (mode == Mode::kAppend ? O_APPEND : O_TRUNC);
  fd_ = ::open(path_.c_str(), flags, 0644);
  if (fd_ < 0) os_error(path_, "cannot open for writing", errno);
  buffer_.reserve(kBufferBytes);
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void OutputFile::flush_buffer() {
  if (!buffer_.empty() && !write_all(fd_, buffer_.data(), buffer_.size())) os_error(path_, "cannot write", errno);
  buffer_.clear();
}

void OutputFile::write(const char* data, size_t size) {
  if (buffer_.size() + size > kBufferBytes) flush_buffer();
  if (size >= kBufferBytes) {
    if (!write_all(fd_, data, size)) os_error(path_, "cannot write", errno);
    return;
  }
  buffer_.append(data, size);
}

void OutputFile::close(bool sync) {
  flush_buffer();
  if (sync && !sync_file(fd_)) os_error(path_, "cannot sync to disk", errno);
  const int fd = fd_;
  fd_ = -1;
  // Linux closes the descriptor even when close() fails: never retry it.
  if (::close(fd) != 0 && errno != EINTR) os_error(path_, "cannot close", errno);
}

void replace_file(const std::string& path, const std::string& text) {
  // A device, pipe or terminal (/dev/stdout) is written to: a rename would
  // put a regular file in its place.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    OutputFile out(path, OutputFile::Mode::kTruncate);
    out.write(text);
    out.close();
    return;
  }
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  try {
    OutputFile out(temporary, OutputFile::Mode::kTruncate);
    out.write(text);
    out.close();
  } catch (const Error& e) {
    std::remove(temporary.c_str());
    throw Error(path, e.message(), e.exit_code());  // the file the user asked for
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    os_error(path, "cannot rename the finished file into place", error);
  }
  sync_parent_folder(path);
}

}  // namespace lockstep
