// One error policy: library code throws lockstep::Error with WHERE (file:line,
// field path, rank, ...) and WHAT; only main() turns it into a message
// "error: WHERE: WHAT" and an exit status.
#pragma once

#include <stdexcept>
#include <string>

namespace lockstep {

// Exit statuses documented in DESIGN.md.
inline constexpr int kExitRuntime = 1;  // failure at run time
inline constexpr int kExitInput = 2;    // bad usage, config or data

class Error : public std::runtime_error {
 public:
  Error(std::string where, std::string what, int exit_code)
      : std::runtime_error(where.empty() ? what : where + ": " + what),
        where_(std::move(where)),
        what_(std::move(what)),
        exit_code_(exit_code) {}
  const std::string& where() const { return where_; }
  const std::string& message() const { return what_; }
  int exit_code() const { return exit_code_; }

 private:
  std::string where_;
  std::string what_;
  int exit_code_;
};

// Bad usage, configuration or data: exit status 2.
[[noreturn]] inline void throw_input_error(const std::string& where, const std::string& what) {
  throw Error(where, what, kExitInput);
}

// A failure while running: exit status 1.
[[noreturn]] inline void throw_runtime_error(const std::string& where, const std::string& what) {
  throw Error(where, what, kExitRuntime);
}

}  // namespace lockstep
