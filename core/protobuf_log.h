// Protobuf reports some problems by logging them itself, on stderr, over
// several lines ("[libprotobuf ERROR google/protobuf/text_format.cc:337]
// Error parsing text-format ..."). lockstep's rule is one line per error,
// "error: WHERE: WHAT": these messages are captured instead, and folded into
// the error the caller throws.
#pragma once

#include <string>

namespace lockstep {

// Process-wide, from main(): a message logged outside any capture is printed
// as one line, "warning: protobuf: MESSAGE (file.cc:line)"; a fatal one as
// "error: protobuf: ..." before protobuf ends the process.
void install_protobuf_log_handler();

// While one exists (on this thread), protobuf's messages are collected here
// and printed nowhere. Nests; not for use from several threads at once.
class ProtobufLogCapture {
 public:
  ProtobufLogCapture();
  ~ProtobufLogCapture();
  ProtobufLogCapture(const ProtobufLogCapture&) = delete;
  ProtobufLogCapture& operator=(const ProtobufLogCapture&) = delete;
  // The messages so far, "; "-separated, each on one line ("" if none).
  const std::string& text() const { return text_; }
  void add(const std::string& message) { text_ += (text_.empty() ? "" : "; ") + message; }

 private:
  std::string text_;
  ProtobufLogCapture* outer_;
  void* previous_handler_;  // restored when the outermost capture ends
};

}  // namespace lockstep
