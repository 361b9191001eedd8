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
  fuzz::load_with_options(spec, b0, b1, [npy](int classes) { npy->set_classes(classes); });
  return 0;
}
