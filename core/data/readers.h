// Private to the data loaders (core/data/*.cpp): one reader
// per DataSpec source, and the few helpers they share.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "core/data/dataset.h"

namespace lockstep {

class SyntheticData;
class CsvData;
class IdxData;
class NpyData;

namespace data {

// Which samples of a source to convert: the first `limit` (0 = all), then
// contiguous part `shard_index` of `shard_count` of those. Readers apply it
// while reading so a LOCAL shard never converts (or allocates) the rest.
struct Window {
  int64_t limit = 0;
  int shard_index = 0;
  int shard_count = 1;
  double holdout_fraction = 0;  // LoadOptions::holdout_fraction

  // Samples the limit keeps of a source holding `total`.
  int64_t limited(int64_t total) const { return limit > 0 && limit < total ? limit : total; }
  // [begin, end) of this part: sizes differ by at most one, the first
  // (limited % shard_count) parts get the extra sample.
  std::pair<int64_t, int64_t> range(int64_t total) const;
};

// Each reader returns samples window.range(N) of its source. `field` is the
// spec's config path ("data") for messages that name no file. For class
// labels a reader sets num_classes when it knows it for the whole (limited)
// source, so every shard agrees; 0 lets load_dataset infer it.
Dataset read_synthetic(const SyntheticData& spec, const std::string& field, const Window& window);
Dataset read_csv(const CsvData& spec, const std::string& field, const Window& window);
// x * scale + shift, computed in double and rounded to float: the data spec's
// `scale` and `shift`. The binary readers apply it to features as they
// convert them (one pass over the data instead of two).
struct Affine {
  double scale = 1.0, shift = 0.0;
  bool identity() const { return scale == 1.0 && shift == 0.0; }
  // In double the product of two floats is exact, so the result is the same
  // whether or not the compiler fuses multiply and add: every rank sees the
  // same data on any machine.
  float operator()(float x) const { return static_cast<float>(x * scale + shift); }
};
Dataset read_idx(const IdxData& spec, const std::string& field, const Window& window, const Affine& features = {});
Dataset read_npy(const NpyData& spec, const std::string& field, const Window& window, const Affine& features = {});

// The whole file; errors name the path ("cannot open: No such file or
// directory", "cannot open: is a FIFO (named pipe), not a regular file").
std::string read_file(const std::string& path);

// Size of a regular file; an error naming the path if it cannot be opened or
// is not a regular file (core/regular_file.h).
int64_t file_size(const std::string& path);

// An element type of IDX and NPY files.
enum class Elem { kBool, kU8, kI8, kU16, kI16, kU32, kI32, kU64, kI64, kF32, kF64 };
struct ElemType {
  Elem elem;
  int size;         // bytes
  bool big_endian;  // byte order in the file
};

// Converts `count` packed elements of `type` to float, then applies `affine`
// (bytes through a 256-entry table of the same values).
void convert_to_float(const unsigned char* src, int64_t count, ElemType type, float* dst, const Affine& affine = {});

}  // namespace data
}  // namespace lockstep
