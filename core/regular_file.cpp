#include "core/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace lockstep {
namespace {

std::string kind_of(mode_t mode) {
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "is a directory";
  if (S_ISFIFO(mode)) return "is a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "is a character device";
  if (S_ISBLK(mode)) return "is a block device";
  if (S_ISSOCK(mode)) return "is a socket";
  return "is not a regular file";
}

[[noreturn]] void refuse(const std::string& path, const std::string& action, const std::string& why) {
  const bool missing = why.rfind("is ", 0) != 0;  // strerror text, not a file kind
  throw_input_error(path, action + ": " + why + (missing ? "" : ", not a regular file"));
}

}  // namespace

std::string why_not_regular(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
  return kind_of(st.st_mode);
}

int64_t regular_file_size(const std::string& path, const std::string& action) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) refuse(path, action, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) refuse(path, action, kind_of(st.st_mode));
  return static_cast<int64_t>(st.st_size);
}

int open_regular_file(const std::string& path, const std::string& action) {
  (void)regular_file_size(path, action);  // refuses before any open
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) refuse(path, action, std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string why = kind_of(st.st_mode);
    ::close(fd);
    refuse(path, action, why.empty() ? "changed while being opened" : why);
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

std::string read_regular_file(const std::string& path, int64_t max_bytes, const std::string& action) {
  const int64_t expected = regular_file_size(path, action);
  if (expected > max_bytes)
    throw_input_error(path, action + ": the file has " + std::to_string(expected) + " bytes, more than the " +
                                std::to_string(max_bytes) + " allowed");
  const int fd = open_regular_file(path, action);
  std::string text(static_cast<size_t>(expected) + 1, '\0');
  size_t used = 0;
  for (;;) {
    const ssize_t got = ::read(fd, &text[used], text.size() - used);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      throw_input_error(path, "read failed: " + std::string(std::strerror(err)));
    }
    if (got == 0) break;
    used += static_cast<size_t>(got);
    if (static_cast<int64_t>(used) > max_bytes) {
      ::close(fd);
      throw_input_error(path, action + ": more than the " + std::to_string(max_bytes) + " bytes allowed");
    }
    // The file may have grown (or report size 0, as in /proc): read on.
    if (used == text.size()) text.resize(std::min<size_t>(text.size() * 2, static_cast<size_t>(max_bytes) + 1));
  }
  ::close(fd);
  text.resize(used);
  return text;
}

}  // namespace lockstep
