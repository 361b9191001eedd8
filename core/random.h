// Portable counter-based random numbers. Results depend only on the key and
// counter, never on the platform, the thread or the rank, which is what makes
// dropout masks partition-independent and initialisation reproducible.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

namespace lockstep {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Combines key parts into one 64-bit key.
inline uint64_t hash_combine(uint64_t a, uint64_t b) { return splitmix64(a ^ splitmix64(b)); }

inline uint64_t hash_string(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Uniform in [0, 1) with 24 random bits (exactly representable as float).
inline float uniform_from_bits(uint64_t bits) { return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f); }

// A stream of numbers from a key: value i is a pure function of (key, i).
class CounterRng {
 public:
  explicit CounterRng(uint64_t key) : key_(key) {}
  uint64_t next_u64() { return splitmix64(key_ ^ splitmix64(counter_++)); }
  double next_double() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  // Standard normal by Box-Muller (portable, unlike std::normal_distribution).
  double next_normal() {
    double u1 = next_double(), u2 = next_double();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Uniform integer in [0, n).
  uint64_t next_below(uint64_t n) { return static_cast<uint64_t>(next_double() * static_cast<double>(n)); }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace lockstep
