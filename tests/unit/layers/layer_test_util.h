// Helpers shared by the per-layer tests: spec errors, empty local batches,
// tie-free inputs for max pooling.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/keras.h"
#include "core/model.h"
#include "core/random.h"
#include "tests/unit/gradcheck_util.h"

namespace lockstep::layertest {

inline ModelSpec sequential(std::initializer_list<int> input_shape, std::initializer_list<LayerSpec> layers) {
  keras::Sequential s(input_shape);
  for (const LayerSpec& l : layers) s.add(l);
  return s.spec();
}

// Building `spec` must fail with an input error (exit status 2) at `where`
// whose message contains every part of `what`.
inline void expect_spec_error(const ModelSpec& spec, const std::string& where, const std::vector<std::string>& what) {
  try {
    Model m(spec);
    ADD_FAILURE() << "accepted; expected an error at " << where;
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput) << e.what();
    EXPECT_EQ(e.where(), where) << e.what();
    for (const auto& part : what)
      EXPECT_NE(e.message().find(part), std::string::npos) << "message: " << e.message() << "\nwanted: " << part;
  }
}

// A shuffled grid 0.01 apart: no two inputs of a max-pooling window are
// within the 2e-3 a central difference moves them, so the winner never
// changes during a gradient check.
inline std::vector<float> distinct_values(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>((static_cast<double>(i) - n / 2.0) * 0.01);
  CounterRng rng(seed);
  for (size_t i = n; i > 1; --i) std::swap(v[i - 1], v[rng.next_below(i)]);
  return v;
}

// A rank whose share of the global batch is empty calls forward and backward
// with rows == 0: nothing may crash, be written, or be accumulated.
inline void expect_empty_batch_is_harmless(const LayerSpec& spec, const Shape& input_shape) {
  gradtest::LayerHarness h(spec, input_shape, 0);
  h.params().zero_grads();
  const std::vector<float> x(static_cast<size_t>(h.layer().input_width()), 1.0f);
  const std::vector<float> dy(static_cast<size_t>(h.layer().output_width()), 1.0f);
  std::vector<float> y(dy.size(), 7.0f), dx(x.size(), 7.0f);
  h.layer().forward(h.ctx(), x.data(), y.data(), 0);
  h.layer().backward(h.ctx(), x.data(), y.data(), dy.data(), dx.data(), 0);
  h.layer().backward(h.ctx(), x.data(), y.data(), dy.data(), nullptr, 0);
  for (float v : y) ASSERT_EQ(v, 7.0f) << "rows = 0 wrote an output";
  for (float v : dx) ASSERT_EQ(v, 7.0f) << "rows = 0 wrote an input gradient";
  for (size_t i = 0; i < h.params().trainable_count(); ++i)
    ASSERT_EQ(h.params().trainable_grads()[i], 0.0f) << "rows = 0 accumulated a parameter gradient";
}

}  // namespace lockstep::layertest
