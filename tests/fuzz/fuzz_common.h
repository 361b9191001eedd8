// Shared helpers of the libFuzzer targets (tests/fuzz/fuzz_*.cpp).
//
// Each target feeds its input to lockstep's real entry point (the function
// the trainer calls) and swallows lockstep::Error: an error is the correct
// answer to bad input. Anything else - a crash, a sanitizer report, another
// exception escaping, a hang or running out of memory - is a finding.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>

#include "core/config.h"
#include "core/data/dataset.h"
#include "core/error.h"
#include "core/model.h"
#include "model.pb.h"

namespace lockstep::fuzz {

// Readers and the config loader take file names, so inputs are written to a
// private folder: in /dev/shm when it is there (no disk I/O per input),
// removed when the process exits normally.
class TempDir {
 public:
  static TempDir& get() {
    static TempDir dir;
    return dir;
  }
  // Writes `size` bytes to NAME in the folder; returns the path.
  std::string write(const std::string& name, const void* data, size_t size) {
    const std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
      std::perror(path.c_str());
      std::abort();
    }
    files_.insert(path);
    return path;
  }
  std::string path(const std::string& name) {
    files_.insert(dir_ + "/" + name);
    return dir_ + "/" + name;
  }
  ~TempDir() {
    for (const std::string& f : files_) ::unlink(f.c_str());
    ::rmdir(dir_.c_str());
  }

 private:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : tmp && *tmp ? tmp : "/tmp";
    std::string pattern = base + "/lockstep-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    dir_ = pattern;
  }
  std::string dir_;
  std::set<std::string> files_;
};

// Takes option bytes off the front of an input (zeros once it runs out).
struct Input {
  const uint8_t* data;
  size_t size;
  uint8_t byte() {
    if (size == 0) return 0;
    --size;
    return *data++;
  }
  uint16_t u16() { return static_cast<uint16_t>(byte() | byte() << 8); }
};

// Builds a model as the trainer does (launch/cli/session.cpp): unallocated
// first - every layer checks its spec and infers its shapes, parameters are
// declared, nothing is allocated - then its memory plan for `rows` rows and
// an optimizer of `slots` slots, the plan checked against 1 GiB, the
// summaries; then allocated and initialised from `seed`, but only when its
// parameters fit in kMaxParameters floats (else null): `units: 2000000000`
// would be libFuzzer's out-of-memory, and even the 400k-parameter example
// models take ~0.2 s per input under the sanitizers. Bigger models run the
// same code with bigger numbers. Errors are lockstep::Error, as in Model.
constexpr size_t kMaxParameters = size_t{1} << 16;  // 256 kB of floats
std::unique_ptr<Model> build_model(const ModelSpec& spec, uint64_t seed, int64_t rows, int slots,
                                   bool sync_batch_norm);

// Builds what the trainer builds from a validated config before it reads
// data - the model (above), the loss, the optimizer, the learning-rate
// schedule (evaluated at a few steps) - and asks every error for its place
// in the config file, as the trainer does when it reports one.
void build_from_config(const ConfigFile& file);

// What the trainer does with a loaded config: validate it (an error is
// located in the file), hash and print it, then build_from_config.
void check_and_build(const ConfigFile& file);

// The data targets' shared option bytes, applied to `spec`:
//   b0: bits 2-3 sharding (GLOBAL, LOCAL part 0 of 2, 1 of 2, 2 of 3),
//       bits 4-7 limit
//   b1: bits 0-3 classes (set with `set_classes`), bit 4 scale 1/255,
//       bit 5 shift -0.5
// then load_dataset as the trainer calls it; lockstep::Error is the right
// answer to a bad file.
template <typename SetClasses>
void load_with_options(DataSpec& spec, uint8_t b0, uint8_t b1, SetClasses set_classes) {
  set_classes(b1 & 15);
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
}

}  // namespace lockstep::fuzz
