// NumPy .npy data: load_dataset with an npy source. Input: four option
// bytes, then the features file and the labels file.
//   byte 0: bits 2-3 sharding (GLOBAL, LOCAL part 0 of 2, 1 of 2, 2 of 3),
//           bits 4-7 limit
//   byte 1: bits 0-3 classes, bit 4 scale 1/255, bit 5 shift -0.5
//   bytes 2-3: length of the features file (little-endian; the rest is labels)
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/data/dataset.h"
#include "core/error.h"
#include "tests/fuzz/fuzz_common.h"
#include "train.pb.h"

using namespace lockstep;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in{data, size};
  const uint8_t b0 = in.byte(), b1 = in.byte();
  const size_t features_size = std::min<size_t>(in.u16(), in.size);
  fuzz::TempDir& dir = fuzz::TempDir::get();
  DataSpec spec;
  NpyData* npy = spec.mutable_npy();
  npy->set_features(dir.write("features.npy", in.data, features_size));
  npy->set_labels(dir.write("labels.npy", in.data + features_size, in.size - features_size));
  npy->set_classes(b1 & 15);
  if (b1 & 16) spec.set_scale(1.0f / 255);
  if (b1 & 32) spec.set_shift(-0.5f);
  spec.set_limit(b0 >> 4);
  static const int kShards[4][2] = {{0, 1}, {0, 2}, {1, 2}, {2, 3}};
  const int shards = (b0 >> 2) & 3;
  LoadOptions options;
  options.shard_index = kShards[shards][0];
  options.shard_count = kShards[shards][1];
  if (shards) spec.set_shard_mode(DataSpec::LOCAL);
  try {
    (void)load_dataset(spec, "data", options);
  } catch (const Error&) {
  }
  return 0;
}
