// `--set dotted.path=value` overrides (ConfigFile::apply_override) on one of
// the example configs, then validation and the model, as `trainer train
// CONFIG --set ...` does. Input: a byte choosing the base config, then one
// assignment per line (at most 8).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "tests/fuzz/fuzz_common.h"

using namespace lockstep;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kBases[] = {LOCKSTEP_SOURCE_DIR "/launch/configs/seed_mlp.pbtxt",
                                       LOCKSTEP_SOURCE_DIR "/launch/configs/fashion_cnn.pbtxt"};
  fuzz::Input in{data, size};
  ConfigFile file = ConfigFile::load(kBases[in.byte() & 1]);
  const std::string text(reinterpret_cast<const char*>(in.data), in.size);
  try {
    size_t start = 0;
    for (int n = 0; n < 8 && start <= text.size(); ++n) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      file.apply_override(text.substr(start, end - start));
      start = end + 1;
    }
    fuzz::check_and_build(file);
  } catch (const Error&) {
  }
  return 0;
}
