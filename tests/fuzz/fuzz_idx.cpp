// IDX data (MNIST format, plain or gzip): load_dataset with an idx source.
// Input: four option bytes, then the images file and the labels file.
//   byte 0: bit 0 gzip the images, bit 1 gzip the labels (the fuzzer's bytes
//           become the content of a valid .gz file; without the bit they are
//           written as they are, so corrupt .gz files come from the seeds),
//           bits 2-3 sharding (GLOBAL, LOCAL part 0 of 2, 1 of 2, 2 of 3),
//           bits 4-7 limit
//   byte 1: bits 0-3 classes, bit 4 scale 1/255, bit 5 shift -0.5
//   bytes 2-3: length of the images file (little-endian; the rest is labels)
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/data/dataset.h"
#include "core/error.h"
#include "tests/fuzz/fuzz_common.h"
#include "train.pb.h"

using namespace lockstep;

namespace {

std::string write(const std::string& name, const uint8_t* data, size_t size, bool gzip) {
  fuzz::TempDir& dir = fuzz::TempDir::get();
  if (!gzip) return dir.write(name, data, size);
  const std::string path = dir.path(name + ".gz");
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f || (size && gzwrite(f, data, static_cast<unsigned>(size)) != static_cast<int>(size)) || gzclose(f) != Z_OK)
    std::abort();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in{data, size};
  const uint8_t b0 = in.byte(), b1 = in.byte();
  const size_t images_size = std::min<size_t>(in.u16(), in.size);
  DataSpec spec;
  IdxData* idx = spec.mutable_idx();
  idx->set_images(write("images.idx", in.data, images_size, b0 & 1));
  idx->set_labels(write("labels.idx", in.data + images_size, in.size - images_size, b0 & 2));
  fuzz::load_with_options(spec, b0, b1, [idx](int classes) { idx->set_classes(classes); });
  return 0;
}
