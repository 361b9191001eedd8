// A Keras model.summary()-like table.
#pragma once

#include <cstdint>
#include <string>

namespace lockstep {
class Model;
std::string model_summary(const Model& model);
// 5770 -> "5,770"
std::string with_thousands(int64_t n);
}  // namespace lockstep
