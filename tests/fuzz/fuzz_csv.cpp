// CSV data (load_dataset with a csv source: the reader, then the checks every
// source shares). Input: three option bytes, then the file.
//   byte 0: bits 0-1 header (AUTO, YES, NO, AUTO), bits 2-3 label encoding
//           (INTEGER, ONE_HOT, VALUE, INTEGER), bits 4-5 delimiter
//           (',' ';' tab ' '), bits 6-7 sharding (GLOBAL, LOCAL part 0 of 2,
//           1 of 2, 2 of 3)
//   byte 1: bits 0-3 classes, bits 4-7 label_column (signed, -8..7)
//   byte 2: bits 0-5 limit, bit 6 missing: "mean", bit 7 split off a
//           validation tail (0.25; the means leave it out)
#include <cstddef>
#include <cstdint>

#include "core/data/dataset.h"
#include "core/error.h"
#include "tests/fuzz/fuzz_common.h"
#include "train.pb.h"

using namespace lockstep;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in{data, size};
  const uint8_t b0 = in.byte(), b1 = in.byte(), b2 = in.byte();
  DataSpec spec;
  CsvData* csv = spec.mutable_csv();
  csv->set_path(fuzz::TempDir::get().write("data.csv", in.data, in.size));
  static const CsvData::Header kHeaders[] = {CsvData::AUTO, CsvData::YES, CsvData::NO, CsvData::AUTO};
  static const CsvData::LabelEncoding kEncodings[] = {CsvData::INTEGER, CsvData::ONE_HOT, CsvData::VALUE,
                                                      CsvData::INTEGER};
  static const char* const kDelimiters[] = {",", ";", "\t", " "};
  csv->set_header(kHeaders[b0 & 3]);
  csv->set_label_encoding(kEncodings[(b0 >> 2) & 3]);
  csv->set_delimiter(kDelimiters[(b0 >> 4) & 3]);
  csv->set_classes(b1 & 15);
  csv->set_label_column(static_cast<int8_t>(b1) >> 4);
  spec.set_limit(b2 & 63);
  if (b2 & 0x40) csv->set_missing("mean");
  static const int kShards[4][2] = {{0, 1}, {0, 2}, {1, 2}, {2, 3}};
  LoadOptions options;
  options.shard_index = kShards[b0 >> 6][0];
  options.shard_count = kShards[b0 >> 6][1];
  if (b0 >> 6) spec.set_shard_mode(DataSpec::LOCAL);
  if (b2 & 0x80) options.holdout_fraction = 0.25;
  try {
    Dataset d = load_dataset(spec, "data", options);
    if (b2 & 0x80) (void)split_off_tail(d, 0.25);
  } catch (const Error&) {
  }
  return 0;
}
