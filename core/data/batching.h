// How a global batch is split over ranks and how an epoch is ordered. These
// two functions are the whole of lockstep's data-parallel contract: one
// global order per epoch, contiguous as-even-as-possible slices.
#pragma once

#include <cstdint>
#include <vector>

#include "core/random.h"

namespace lockstep {

struct Slice {
  int64_t begin = 0;  // offset inside the batch
  int64_t size = 0;
};

// Part `part` of `count` contiguous parts of `total` items whose sizes differ
// by at most one (the first total % count parts get one more).
inline Slice even_slice(int64_t total, int part, int count) {
  const int64_t base = total / count, extra = total % count;
  return Slice{part * base + (part < extra ? part : extra), base + (part < extra ? 1 : 0)};
}

// Fills `order` (resized once by the caller to the data set size) with the
// epoch's permutation: Fisher-Yates driven by a counter-based generator keyed
// by (seed, epoch), identical on every rank and platform.
inline void epoch_permutation(uint64_t seed, int64_t epoch, bool shuffle, std::vector<int64_t>& order) {
  const int64_t n = static_cast<int64_t>(order.size());
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (!shuffle) return;
  CounterRng rng(hash_combine(hash_combine(seed, 0x73687566666C65ull /* "shuffle" */), static_cast<uint64_t>(epoch)));
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng.next_below(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
}

}  // namespace lockstep
