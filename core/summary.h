// A Keras model.summary()-like table.
#pragma once

#include <cstdint>
#include <string>

namespace lockstep {
class Model;
std::string model_summary(const Model& model);
// Which BatchNormalization layers compute their statistics over which ranks,
// one line per kind ("" without such layers). `ranks`: the job's ranks, or
// 0 when not known (trainer summary run alone).
std::string batch_statistics_summary(const Model& model, bool sync_by_default, int ranks);
// 5770 -> "5,770"
std::string with_thousands(int64_t n);
}  // namespace lockstep
