#include "core/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <cstdio>

namespace lockstep {
namespace {

namespace pb = google::protobuf;

thread_local ProtobufLogCapture* g_capture = nullptr;

// Protobuf's messages may span lines (a caret under the text): one line.
std::string one_line(const std::string& message) {
  std::string s;
  for (char c : message) s += (c == '\n' || c == '\r') ? ' ' : c;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

void handler(pb::LogLevel level, const char* filename, int line, const std::string& message) {
  const std::string text = one_line(message);
  if (g_capture && level != pb::LOGLEVEL_FATAL) {
    g_capture->add(text);
    return;
  }
  const char* kind = level == pb::LOGLEVEL_FATAL ? "error" : "warning";
  std::fprintf(stderr, "%s: protobuf: %s (%s:%d)\n", kind, text.c_str(), filename, line);
  std::fflush(stderr);
}

}  // namespace

void install_protobuf_log_handler() { pb::SetLogHandler(&handler); }

ProtobufLogCapture::ProtobufLogCapture() : outer_(g_capture), previous_handler_(nullptr) {
  g_capture = this;
  // Also when main() did not install it (unit tests, fuzzers, a library
  // user with a handler of their own, given back at the end).
  if (!outer_) previous_handler_ = reinterpret_cast<void*>(pb::SetLogHandler(&handler));
}

ProtobufLogCapture::~ProtobufLogCapture() {
  g_capture = outer_;
  if (!outer_) pb::SetLogHandler(reinterpret_cast<pb::LogHandler*>(previous_handler_));
}

}  // namespace lockstep
