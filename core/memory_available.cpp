// memory_available(): what the kernel will let this process allocate before
// it is killed or fails. A cluster job usually runs in a cgroup whose limit is
// far below the node's memory, so MemAvailable alone would let a run start
// that the OOM killer ends; a laptop has no limit and MemAvailable is it.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/memory_plan.h"

namespace lockstep {
namespace {

constexpr uint64_t kUnlimited = UINT64_MAX;

bool is_dir(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

// The first word of a small file as a number; "max" (cgroup v2) is no limit.
std::optional<uint64_t> read_number(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word)) return std::nullopt;
  if (word == "max") return kUnlimited;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(word.c_str(), &end, 10);
  if (end == word.c_str() || *end != '\0') return std::nullopt;
  return v;
}

// "key value" lines (memory.stat); 0 when the key is missing.
uint64_t stat_value(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

std::optional<uint64_t> mem_available_kb(const std::string& meminfo) {
  std::ifstream in(meminfo);
  std::string line;
  while (std::getline(in, line)) {
    unsigned long long kb = 0;
    if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &kb) == 1) return kb;
  }
  return std::nullopt;
}

// A memory cgroup of this process: the directory of its files, and the
// directory of the hierarchy's mount, where walking up the ancestors stops.
struct Cgroup {
  int version = 2;
  std::string dir, top;
};

// The cgroup paths /proc/self/cgroup gives, joined to the mounts that
// /proc/self/mountinfo lists (v2 "cgroup2"; v1 "cgroup" with "memory").
std::vector<Cgroup> memory_cgroups(const std::string& root) {
  std::string v2_path, v1_path;
  {
    std::ifstream in(root + "/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
      const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
      if (b == std::string::npos) continue;
      const std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
      if (line.compare(0, a, "0") == 0 && b == a + 1) v2_path = line.substr(b + 1);
      else if (controllers.find(",memory,") != std::string::npos) v1_path = line.substr(b + 1);
    }
  }
  std::vector<Cgroup> found;
  std::ifstream in(root + "/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, mount_root, mount_point, word;
    f >> id >> parent >> dev >> mount_root >> mount_point;
    while (f >> word && word != "-") {}
    std::string fstype, source, options;
    f >> fstype >> source >> options;
    const bool v2 = fstype == "cgroup2" && !v2_path.empty();
    const bool v1 = fstype == "cgroup" && !v1_path.empty() && ("," + options + ",").find(",memory,") != std::string::npos;
    if (!v1 && !v2) continue;
    std::string rel = v2 ? v2_path : v1_path;
    // Inside a cgroup namespace the mount's root is the process's cgroup.
    if (mount_root != "/" && rel.compare(0, mount_root.size(), mount_root) == 0) rel = rel.substr(mount_root.size());
    Cgroup g;
    g.version = v2 ? 2 : 1;
    g.top = root + mount_point;
    g.dir = g.top + (rel == "/" ? "" : rel);
    // A container may show its own cgroup at the mount point while
    // /proc/self/cgroup names the host's path.
    if (!is_dir(g.dir)) g.dir = g.top;
    found.push_back(g);
  }
  return found;
}

// The room under one cgroup's limit: limit - (usage - reclaimable cache).
std::optional<uint64_t> room_in(const Cgroup& g, const std::string& dir) {
  const bool v2 = g.version == 2;
  const std::optional<uint64_t> limit = read_number(dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes"));
  // cgroup v1 writes "no limit" as the largest page-aligned 63-bit number.
  if (!limit || *limit >= (uint64_t{1} << 62)) return std::nullopt;
  const uint64_t usage = read_number(dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes")).value_or(0);
  const uint64_t cache = stat_value(dir + "/memory.stat", v2 ? "inactive_file" : "total_inactive_file");
  const uint64_t used = usage - std::min(usage, cache);
  return *limit - std::min(*limit, used);
}

}  // namespace

std::optional<MemoryAvailable> memory_available_at(const std::string& root) {
  std::optional<MemoryAvailable> best;
  if (const auto kb = mem_available_kb(root + "/proc/meminfo"))
    best = MemoryAvailable{*kb * 1024, "MemAvailable in /proc/meminfo"};
  for (const Cgroup& g : memory_cgroups(root)) {
    // Every ancestor's limit applies too (a job's, its step's, ...).
    for (std::string dir = g.dir;; dir = dir.substr(0, dir.rfind('/'))) {
      const std::optional<uint64_t> room = room_in(g, dir);
      if (room && (!best || *room < best->bytes)) {
        const std::string shown = dir.substr(root.size());
        best = MemoryAvailable{*room, g.version == 2 ? "cgroup v2 memory.max of " + shown
                                                      : "cgroup v1 memory.limit_in_bytes of " + shown};
      }
      if (dir.size() <= g.top.size() || dir.rfind('/') == std::string::npos) break;
    }
  }
  return best;
}

std::optional<MemoryAvailable> memory_available() {
  const char* env = std::getenv("LOCKSTEP_MEMORY_AVAILABLE");
  if (!env || !*env) return memory_available_at("");
  // Bytes, or with a binary suffix: 512M, 16G, 2T.
  char* end = nullptr;
  const unsigned long long n = std::strtoull(env, &end, 10);
  int shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10, ++end;
  else if (*end == 'M' || *end == 'm') shift = 20, ++end;
  else if (*end == 'G' || *end == 'g') shift = 30, ++end;
  else if (*end == 'T' || *end == 't') shift = 40, ++end;
  if (end == env || *end != '\0' || env[0] == '-' || (shift && n > (UINT64_MAX >> shift)))
    throw_input_error("LOCKSTEP_MEMORY_AVAILABLE", "'" + std::string(env) + "' is not a number of bytes (e.g. 16G)");
  return MemoryAvailable{static_cast<uint64_t>(n) << shift, "LOCKSTEP_MEMORY_AVAILABLE"};
}

}  // namespace lockstep
