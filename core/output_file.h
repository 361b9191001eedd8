// Files lockstep writes (history, CSV log, configs, predictions, reports):
// every write(), fsync() and close() is checked, and a failure is a runtime
// error (exit 1) naming the file and the OS's reason, e.g.
//   error: runs/x/history.jsonl: cannot write: No space left on device
// A full disk often shows only at fsync or close (delayed allocation, NFS),
// so a file counts as written once all three succeeded.
#pragma once

#include <string>

namespace lockstep {

class OutputFile {
 public:
  enum class Mode { kTruncate, kAppend };
  // Opens (creating with 0644) or reports why not.
  OutputFile(std::string path, Mode mode);
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  // Without close(): closes silently (an error is already on its way).
  ~OutputFile();

  // Buffered; a full buffer is written at once, failures reported.
  void write(const char* data, size_t size);
  void write(const std::string& text) { write(text.data(), text.size()); }
  // Writes what is buffered, fsyncs (unless `sync` is false), closes: the
  // file is on disk, or an error.
  void close(bool sync = true);
  const std::string& path() const { return path_; }

 private:
  void flush_buffer();
  std::string path_;
  std::string buffer_;
  int fd_ = -1;
};

// write(2) of all `size` bytes (retrying short writes and EINTR); false with
// errno set on failure.
bool write_all(int fd, const char* data, size_t size);
// fsync that treats EINVAL (a device or pipe that cannot sync, e.g. /dev/null)
// as success; false with errno set on failure.
bool sync_file(int fd);
// fsync of the folder that holds `path`, so a rename into it survives a
// crash; reports failure as "<folder>: cannot sync the folder: <reason>".
void sync_parent_folder(const std::string& path);
// Writes `text` to a temporary file next to `path`, fsyncs it and renames it
// over `path`: a reader sees the old file or the new one, never a part.
// A `path` that is not a regular file (a device, a pipe) is written directly.
void replace_file(const std::string& path, const std::string& text);

}  // namespace lockstep
