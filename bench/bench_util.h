// Small helpers the bench/ programs share: timing, medians, JSON text and
// the process's memory figures. Header-only: every bench/*.cpp is its own
// program (CMakeLists.txt builds one executable per file).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace lockstep::bench {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The median; the mean of the two middle values for an even count, 0 for none.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// s as a JSON string literal (quotes and backslashes escaped).
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// "launch/configs/seed_mlp.pbtxt" -> "seed_mlp"
inline std::string stem(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  const size_t dot = base.find('.');
  return dot == std::string::npos ? base : base.substr(0, dot);
}

// A "kB" field of /proc/self/status in MiB: "VmRSS" (resident now) or
// "VmHWM" (the resident high-water mark so far). 0 if it cannot be read.
inline double proc_status_mb(const char* field) {
  double kb = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    const size_t n = std::strlen(field);
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, field, n) == 0 && line[n] == ':') kb = std::atof(line + n + 1);
    std::fclose(f);
  }
  return kb / 1024.0;
}

}  // namespace lockstep::bench
