// Opening input files (configs, data) that must be regular files. A
// directory, a FIFO or a device given by mistake would otherwise read as an
// empty file, block forever waiting for a writer, or stream without end
// (/dev/zero): each is refused, with that reason, before it is opened for
// reading. Errors are input errors (exit status 2) whose WHERE is the path.
#pragma once

#include <cstdint>
#include <string>

namespace lockstep {

// "" for a regular file; otherwise why not: "is a directory", "is a FIFO
// (named pipe)", "is a character device", ..., or strerror of stat.
std::string why_not_regular(const std::string& path);

// The size of regular file `path`, or an input error at `path`:
// "<action>: is a directory, not a regular file" (action: "cannot open",
// "cannot open config", ...).
int64_t regular_file_size(const std::string& path, const std::string& action);

// A descriptor for reading regular file `path` (opened non-blocking, so a
// FIFO swapped in after the check cannot hang the open, then checked again
// with fstat and made blocking). The caller closes it.
int open_regular_file(const std::string& path, const std::string& action);

// The whole of regular file `path`; an input error when it holds more than
// `max_bytes` (checked while reading, as files in /proc report size 0).
std::string read_regular_file(const std::string& path, int64_t max_bytes, const std::string& action);

}  // namespace lockstep
