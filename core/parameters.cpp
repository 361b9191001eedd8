#include "core/parameters.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/checked_size.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/random.h"

namespace lockstep {
namespace {

// Each tensor starts on a 64-byte boundary so element-wise loops vectorise
// and no two tensors share a cache line.
constexpr size_t kAlignFloats = 16;
size_t align_up(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

// Keras' truncated normal rescales stddev by this so the variance after
// truncation at two standard deviations is the intended one.
constexpr double kTruncatedNormalStddevFix = 0.87962566103423978;

void fill_uniform(CounterRng& rng, float* out, size_t n, double limit) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>((2.0 * rng.next_double() - 1.0) * limit);
}

void fill_truncated_normal(CounterRng& rng, float* out, size_t n, double stddev) {
  for (size_t i = 0; i < n; ++i) {
    double z;
    do z = rng.next_normal();
    while (std::fabs(z) > 2.0);
    out[i] = static_cast<float>(z * stddev);
  }
}

}  // namespace

const std::vector<std::string>& known_initializers() {
  static const std::vector<std::string> names = {
      "zeros",         "ones",         "uniform",        "random_uniform", "normal",
      "random_normal", "glorot_uniform", "glorot_normal", "he_uniform",     "he_normal",
      "lecun_uniform", "lecun_normal"};
  return names;
}

bool is_known_initializer(const std::string& name) {
  const auto& k = known_initializers();
  return std::find(k.begin(), k.end(), name) != k.end();
}

void fill_initializer(const InitializerSpec& spec, uint64_t seed, float* out, size_t n) {
  CounterRng rng(seed);
  const double fan_in = std::max<int64_t>(1, spec.fan_in);
  const double fan_out = std::max<int64_t>(1, spec.fan_out);
  const std::string& s = spec.name;
  if (s == "zeros") {
    std::fill(out, out + n, 0.0f);
  } else if (s == "ones") {
    std::fill(out, out + n, 1.0f);
  } else if (s == "uniform" || s == "random_uniform") {
    fill_uniform(rng, out, n, 0.05);  // Keras RandomUniform(-0.05, 0.05)
  } else if (s == "normal" || s == "random_normal") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(0.05 * rng.next_normal());
  } else if (s == "glorot_uniform") {
    fill_uniform(rng, out, n, std::sqrt(6.0 / (fan_in + fan_out)));
  } else if (s == "glorot_normal") {
    fill_truncated_normal(rng, out, n, std::sqrt(2.0 / (fan_in + fan_out)) / kTruncatedNormalStddevFix);
  } else if (s == "he_uniform") {
    fill_uniform(rng, out, n, std::sqrt(6.0 / fan_in));
  } else if (s == "he_normal") {
    fill_truncated_normal(rng, out, n, std::sqrt(2.0 / fan_in) / kTruncatedNormalStddevFix);
  } else if (s == "lecun_uniform") {
    fill_uniform(rng, out, n, std::sqrt(3.0 / fan_in));
  } else if (s == "lecun_normal") {
    fill_truncated_normal(rng, out, n, std::sqrt(1.0 / fan_in) / kTruncatedNormalStddevFix);
  } else {
    throw_input_error("initializer", "unknown initializer '" + s + "'");
  }
}

int ParameterStore::declare(const std::string& name, const Shape& shape, bool trainable, InitializerSpec init) {
  if (finalized_) throw_runtime_error(name, "parameter declared after the model was built");
  if (find(name) >= 0) throw_input_error(name, "duplicate parameter name (layer names must be unique)");
  ParameterInfo p;
  p.name = name;
  p.shape = shape;
  p.trainable = trainable;
  p.initializer = std::move(init);
  p.size = static_cast<size_t>(checked_numel(shape, name));
  size_t& cursor = trainable ? trainable_size_ : state_size_;
  p.offset = cursor;
  // Counts only; nothing is allocated before finalize(), and the memory
  // plan reads these totals first.
  if (__builtin_add_overflow(cursor, align_up(p.size), &cursor))
    throw_input_error(name, "the model has more parameters than fit in 64 bits");
  entries_.push_back(std::move(p));
  return static_cast<int>(entries_.size()) - 1;
}

void ParameterStore::finalize() {
  own_values_.assign(trainable_size_, 0.0f);
  own_grads_.assign(trainable_size_, 0.0f);
  state_.assign(state_size_, 0.0f);
  finalized_ = true;
}

float* ParameterStore::value(int id) {
  const ParameterInfo& p = entries_.at(id);
  return (p.trainable ? trainable_values() : state_.data()) + p.offset;
}

float* ParameterStore::grad(int id) {
  const ParameterInfo& p = entries_.at(id);
  if (!p.trainable) throw_runtime_error(p.name, "non-trainable state has no gradient");
  return trainable_grads() + p.offset;
}

int ParameterStore::find(const std::string& name) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return static_cast<int>(i);
  return -1;
}

void ParameterStore::initialize(uint64_t seed) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    const ParameterInfo& p = entries_[i];
    fill_initializer(p.initializer, hash_combine(seed, hash_string(p.name)), value(static_cast<int>(i)), p.size);
  }
}

void ParameterStore::zero_grads() {
  float* grads = trainable_grads();
  parallel_ranges(static_cast<int64_t>(trainable_size_), 64, [grads](int64_t begin, int64_t end) {
    std::memset(grads + begin, 0, static_cast<size_t>(end - begin) * sizeof(float));
  });
}

void ParameterStore::place_trainable(float* values, float* grads) {
  if (!finalized_) throw_runtime_error("parameters", "place_trainable() before finalize()");
  if (values == nullptr || grads == nullptr) throw_runtime_error("parameters", "place_trainable() of null memory");
  if (trainable_size_ > 0) {
    std::memmove(values, trainable_values(), trainable_size_ * sizeof(float));
    std::memmove(grads, trainable_grads(), trainable_size_ * sizeof(float));
  }
  placed_values_ = values;
  placed_grads_ = grads;
  std::vector<float>().swap(own_values_);
  std::vector<float>().swap(own_grads_);
}

}  // namespace lockstep
