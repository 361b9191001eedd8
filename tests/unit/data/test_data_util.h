// Helpers shared by the data loader tests (test_data_*.cpp).
#pragma once

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/error.h"
#include "train.pb.h"
#include "../temp_files.h"

namespace lockstep::datatest {

// A fresh folder for the test's files, removed at the end; files can be
// written gzip-compressed.
class TempDir : public test_files::TempDir {
 public:
  TempDir() : test_files::TempDir("data") {}

  // Writes `bytes` to NAME (gzip-compressed if gz) and returns its path.
  std::string write(const std::string& name, const std::string& bytes, bool gz = false) const {
    if (!gz) return test_files::TempDir::write(name, bytes);
    const std::string p = path(name);
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return p;
  }
};

inline DataSpec parse_spec(const std::string& text) {
  DataSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(text, &spec)) throw std::runtime_error("bad test spec: " + text);
  return spec;
}

inline Dataset load(const std::string& spec_text, LoadOptions options = {}) {
  return load_dataset(parse_spec(spec_text), "data", options);
}

// Expects f() to throw an input error whose WHERE and WHAT contain the given parts.
template <typename F>
void expect_input_error(F&& f, const std::string& where, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no error; expected " << where << ": " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_NE(e.where().find(where), std::string::npos) << "where: " << e.where() << "\nwanted: " << where;
    EXPECT_NE(e.message().find(what), std::string::npos) << "what: " << e.message() << "\nwanted: " << what;
  }
}

// Loads every part of `shard_count` (shard_mode LOCAL) and checks they are
// contiguous, as even as possible and together equal to the whole.
inline void expect_shards_cover(const std::string& spec_text, int shard_count) {
  SCOPED_TRACE(spec_text + " in " + std::to_string(shard_count) + " parts");
  const Dataset whole = load(spec_text);
  const DataSpec spec = parse_spec(spec_text + " shard_mode: LOCAL");
  std::vector<float> features, labels;
  const int64_t n = whole.num_samples;
  for (int part = 0; part < shard_count; ++part) {
    const Dataset d = load_dataset(spec, "data", LoadOptions{part, shard_count});
    EXPECT_EQ(d.num_samples, n / shard_count + (part < n % shard_count ? 1 : 0)) << "part " << part;
    EXPECT_EQ(d.num_classes, whole.num_classes) << "part " << part;
    EXPECT_EQ(d.sample_shape, whole.sample_shape);
    features.insert(features.end(), d.features.begin(), d.features.end());
    labels.insert(labels.end(), d.labels.begin(), d.labels.end());
  }
  EXPECT_EQ(features, whole.features);
  EXPECT_EQ(labels, whole.labels);
}

// Big-endian 32-bit, as in IDX headers.
inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

inline std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s + data;
}

// A .npy file with the given header dict (padded as numpy pads it).
inline std::string npy_bytes(const std::string& dict, const std::string& data, int version = 1) {
  const size_t prefix = version == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += static_cast<char>(version);
  s += '\0';
  const uint32_t len = static_cast<uint32_t>(header.size());
  s += static_cast<char>(len & 0xff);
  s += static_cast<char>(len >> 8 & 0xff);
  if (version != 1) {
    s += static_cast<char>(len >> 16 & 0xff);
    s += static_cast<char>(len >> 24 & 0xff);
  }
  return s + header + data;
}

// The bytes of `values` in the host's order (little-endian: as numpy's '<').
template <typename T>
std::string raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

}  // namespace lockstep::datatest
