// Config files in protobuf text format (`trainer train cfg.pbtxt`): parse,
// validate, hash and print the config, then build the model, as the trainer
// does before it touches data.
#include <cstddef>
#include <cstdint>

#include "core/config.h"
#include "core/error.h"
#include "tests/fuzz/fuzz_common.h"

using namespace lockstep;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::TempDir::get().write("config.pbtxt", data, size);
  try {
    fuzz::check_and_build(ConfigFile::load(path));
  } catch (const Error&) {
  }
  return 0;
}
