// Finite-difference gradient checking for lockstep's float layers and losses,
// shared by test_gradcheck.cpp and the per-layer tests in layers/.
//
// Layers compute in float, so central differences are taken with a step of
// ~1e-3 on unit-scale values, divided by the step actually representable in
// float, and the objective is summed in double. A numeric and an analytic
// derivative agree when |num - ana| <= atol + rtol * |num|. Every check also
// verifies that the analytic gradient scaled by 1.1 would FAIL the same
// comparison (whenever the gradient is large enough for 10% to matter), so a
// passing check means something.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/keras.h"
#include "core/layers/layer.h"
#include "core/model.h"
#include "core/random.h"

namespace lockstep::gradtest {

// Deterministic values uniform in [lo, hi].
inline std::vector<float> uniform_values(size_t n, uint64_t seed, double lo, double hi) {
  CounterRng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(lo + (hi - lo) * rng.next_double());
  return v;
}

// Deterministic values with |v| in [min_abs, max_abs] and a random sign: keeps
// inputs away from the kinks of relu, leaky_relu and elu at 0.
inline std::vector<float> away_from_zero(size_t n, uint64_t seed, double min_abs, double max_abs) {
  CounterRng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) {
    const double magnitude = min_abs + (max_abs - min_abs) * rng.next_double();
    x = static_cast<float>(rng.next_double() < 0.5 ? -magnitude : magnitude);
  }
  return v;
}

struct Tolerance {
  double atol = 5e-4;
  double rtol = 5e-3;
};

struct Comparison {
  double worst = 0;        // max over elements of |num - ana| / (atol + rtol * |num|); <= 1 passes
  size_t worst_index = 0;
  double max_abs_numeric = 0;
  bool passes() const { return worst <= 1.0; }
};

inline Comparison compare(const std::vector<double>& numeric, const std::vector<double>& analytic, Tolerance tol,
                          double analytic_factor = 1.0) {
  Comparison c;
  for (size_t i = 0; i < numeric.size(); ++i) {
    const double ratio =
        std::fabs(numeric[i] - analytic_factor * analytic[i]) / (tol.atol + tol.rtol * std::fabs(numeric[i]));
    if (!(ratio <= c.worst)) c.worst = ratio, c.worst_index = i;  // NaN counts as the worst
    c.max_abs_numeric = std::max(c.max_abs_numeric, std::fabs(numeric[i]));
  }
  return c;
}

// Central difference of f with respect to *v; the step is the one float can
// represent around *v. Restores *v.
inline double central_difference(float* v, double eps, const std::function<double()>& f) {
  const float saved = *v;
  const float plus = static_cast<float>(saved + eps), minus = static_cast<float>(saved - eps);
  *v = plus;
  const double f_plus = f();
  *v = minus;
  const double f_minus = f();
  *v = saved;
  return (f_plus - f_minus) / (static_cast<double>(plus) - static_cast<double>(minus));
}

// The check itself: numeric matches analytic, and a gradient 10% too large
// would not have matched (when the gradient is big enough to tell).
inline void expect_gradients_match(const std::string& what, const std::vector<double>& numeric,
                                   const std::vector<double>& analytic, Tolerance tol = {}) {
  ASSERT_EQ(numeric.size(), analytic.size()) << what;
  const Comparison c = compare(numeric, analytic, tol);
  EXPECT_TRUE(c.passes()) << what << ": element " << c.worst_index << " numeric " << numeric[c.worst_index]
                          << " analytic " << analytic[c.worst_index] << " (error/tolerance " << c.worst << ")";
  if (std::getenv("LOCKSTEP_GRADCHECK_VERBOSE"))  // margins, for tuning tolerances
    std::printf("  gradcheck %-60s error/tolerance %.3f  max|grad| %.3g\n", what.c_str(), c.worst,
                c.max_abs_numeric);
  if (c.max_abs_numeric > 20 * tol.atol) {
    const Comparison wrong = compare(numeric, analytic, tol, 1.1);
    EXPECT_FALSE(wrong.passes()) << what << ": the comparison cannot tell a gradient scaled by 1.1";
  }
}

// Trainable parameters of a store, flattened in declaration order (padding
// excluded), with a name per element for messages.
struct ParamElement {
  int id;
  size_t offset;  // within the tensor
};

inline std::vector<ParamElement> trainable_elements(const ParameterStore& store) {
  std::vector<ParamElement> out;
  for (size_t id = 0; id < store.entries().size(); ++id) {
    const ParameterInfo& p = store.entries()[id];
    if (!p.trainable) continue;
    for (size_t k = 0; k < p.size; ++k) out.push_back({static_cast<int>(id), k});
  }
  return out;
}

// One layer inside a one-layer Model (the Model does build, finalize,
// initialize, bind and reserve), driven directly so the input gradient is
// available too. The objective is L = sum_i w_i * y_i with fixed random w,
// so dL/dy = w.
class LayerHarness {
 public:
  LayerHarness(const LayerSpec& layer, const Shape& input_shape, int64_t rows, uint64_t seed = 1)
      : rows_(rows) {
    ModelSpec spec;
    for (int64_t d : input_shape) spec.add_input_shape(static_cast<int>(d));
    *spec.add_layers() = layer;
    model_ = std::make_unique<Model>(spec, seed);
    model_->reserve(std::max<int64_t>(rows, 1));
    ctx_.training = true;
    ctx_.seed = 1234;
    ctx_.epoch = 2;
    ctx_.step = 7;
    ctx_.batch_offset = 0;
    ctx_.global_rows = rows;
    const Layer& l = model_->layer(0);
    x_ = away_from_zero(static_cast<size_t>(rows * l.input_width()), seed * 7 + 1, 0.2, 2.0);
    w_ = uniform_values(static_cast<size_t>(rows * l.output_width()), seed * 7 + 2, -1.0, 1.0);
    y_.assign(w_.size(), 0.0f);
    dx_.assign(x_.size(), 0.0f);
  }

  Model& model() { return *model_; }
  Layer& layer() { return model_->layer(0); }
  ParameterStore& params() { return model_->parameters(); }
  StepContext& ctx() { return ctx_; }
  std::vector<float>& x() { return x_; }
  std::vector<float>& y() { return y_; }
  std::vector<float>& w() { return w_; }
  int64_t rows() const { return rows_; }

  double objective() {
    layer().forward(ctx_, x_.data(), y_.data(), rows_);
    double sum = 0;
    for (size_t i = 0; i < y_.size(); ++i) sum += static_cast<double>(w_[i]) * y_[i];
    return sum;
  }

  // Runs forward + backward once; returns dL/dx and fills param_grads with
  // dL/dparam for every trainable element (see trainable_elements()).
  std::vector<double> analytic(std::vector<double>* param_grads) {
    params().zero_grads();  // layers accumulate parameter gradients
    objective();
    std::fill(dx_.begin(), dx_.end(), std::nanf(""));
    layer().backward(ctx_, x_.data(), y_.data(), w_.data(), dx_.data(), rows_);
    if (param_grads) {
      param_grads->clear();
      for (const ParamElement& e : trainable_elements(params()))
        param_grads->push_back(params().grad(e.id)[e.offset]);
    }
    return {dx_.begin(), dx_.end()};
  }

  std::vector<double> numeric_input(double eps) {
    std::vector<double> g(x_.size());
    for (size_t i = 0; i < x_.size(); ++i) g[i] = central_difference(&x_[i], eps, [this] { return objective(); });
    return g;
  }

  std::vector<double> numeric_params(double eps) {
    std::vector<double> g;
    for (const ParamElement& e : trainable_elements(params()))
      g.push_back(central_difference(params().value(e.id) + e.offset, eps, [this] { return objective(); }));
    return g;
  }

  // Input and parameter gradients against central differences.
  void check(const std::string& what, double eps = 1e-3, Tolerance tol = {}) {
    std::vector<double> param_ana;
    const std::vector<double> input_ana = analytic(&param_ana);
    expect_gradients_match(what + " dL/dx", numeric_input(eps), input_ana, tol);
    if (!param_ana.empty()) expect_gradients_match(what + " dL/dparams", numeric_params(eps), param_ana, tol);
  }

 private:
  std::unique_ptr<Model> model_;
  int64_t rows_;
  StepContext ctx_;
  std::vector<float> x_, y_, w_, dx_;
};

}  // namespace lockstep::gradtest
