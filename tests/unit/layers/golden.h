// Golden values from PyTorch (tests/unit/layers/golden/golden.txt, written by
// make_golden.py next to it, which documents the format and the layouts:
// every tensor is already in lockstep's layout, NHWC activations and
// [kh, kw, in, filters] kernels).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/shape.h"
#include "model.pb.h"
#include "tests/unit/gradcheck_util.h"

namespace lockstep::golden {

inline const char* file_path() { return LOCKSTEP_SOURCE_DIR "/tests/unit/layers/golden/golden.txt"; }

struct Tensor {
  Shape shape;
  std::vector<double> values;

  std::vector<float> floats() const { return {values.begin(), values.end()}; }
  Shape per_sample() const { return Shape(shape.begin() + 1, shape.end()); }
};

struct Case {
  std::string name;
  std::map<std::string, std::vector<std::string>> attrs;
  std::map<std::string, Tensor> tensors;

  bool has(const std::string& tensor_name) const { return tensors.count(tensor_name) > 0; }
  const Tensor& tensor(const std::string& tensor_name) const {
    const auto it = tensors.find(tensor_name);
    if (it == tensors.end()) throw std::runtime_error("golden case " + name + " has no tensor " + tensor_name);
    return it->second;
  }
  bool has_attr(const std::string& key) const { return attrs.count(key) > 0; }
  const std::vector<std::string>& attr(const std::string& key) const {
    const auto it = attrs.find(key);
    if (it == attrs.end()) throw std::runtime_error("golden case " + name + " has no attr " + key);
    return it->second;
  }
  std::vector<int> ints(const std::string& key) const {
    std::vector<int> v;
    for (const std::string& word : attr(key)) v.push_back(std::stoi(word));
    return v;
  }
};

inline Tensor read_tensor(std::istringstream& header, std::istream& in, const std::string& where) {
  Tensor t;
  int rank = 0;
  header >> rank;
  t.shape.resize(static_cast<size_t>(rank));
  for (int64_t& d : t.shape) header >> d;
  t.values.resize(static_cast<size_t>(numel(t.shape)));
  for (double& v : t.values) in >> v;
  if (!header || !in) throw std::runtime_error(std::string(file_path()) + ": malformed tensor in " + where);
  return t;
}

inline std::map<std::string, Case> read_file() {
  std::ifstream in(file_path());
  if (!in) throw std::runtime_error(std::string("cannot open ") + file_path());
  std::map<std::string, Case> cases;
  Case current;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string kind, name;
    words >> kind >> name;
    if (kind == "case") {
      current = Case{name, {}, {}};
    } else if (kind == "attr") {
      for (std::string w; words >> w;) current.attrs[name].push_back(w);
    } else if (kind == "tensor") {
      current.tensors[name] = read_tensor(words, in, current.name);
    } else if (kind == "end") {
      cases[current.name] = current;
    }
  }
  return cases;
}

// Read once per test binary.
inline const Case& find_case(const std::string& name) {
  static const std::map<std::string, Case> cases = read_file();
  const auto it = cases.find(name);
  if (it == cases.end())
    throw std::runtime_error("no golden case '" + name + "' in " + file_path() + " (run make_golden.py)");
  return it->second;
}

// |got - want| <= tol * max(1, |want|) everywhere; reports the worst element.
// A golden tensor of (near) zeros would let anything pass: refused.
inline void expect_close(const std::string& what, const float* got, const Tensor& want, double tol = 1e-5) {
  double worst = 0, largest = 0;
  size_t worst_index = 0;
  for (size_t i = 0; i < want.values.size(); ++i) {
    const double ratio = std::fabs(got[i] - want.values[i]) / (tol * std::max(1.0, std::fabs(want.values[i])));
    if (!(ratio <= worst)) worst = ratio, worst_index = i;  // NaN counts as the worst
    largest = std::max(largest, std::fabs(want.values[i]));
  }
  if (std::getenv("LOCKSTEP_GOLDEN_VERBOSE"))  // margins, for tuning tolerances
    std::printf("  golden %-40s error/tolerance %.3f  max|value| %.3g\n", what.c_str(), worst, largest);
  EXPECT_GT(largest, 1e-3) << what << ": golden values are all ~0";
  EXPECT_LE(worst, 1.0) << what << ": element " << worst_index << " (of " << want.values.size() << ") got "
                        << got[worst_index] << ", PyTorch " << want.values[worst_index];
}

inline void expect_close(const std::string& what, const std::vector<float>& got, const Tensor& want,
                         double tol = 1e-5) {
  ASSERT_EQ(got.size(), want.values.size()) << what;
  expect_close(what, got.data(), want, tol);
}

inline void expect_close(const std::string& what, const std::vector<double>& got, const Tensor& want,
                         double tol = 1e-5) {
  expect_close(what, std::vector<float>(got.begin(), got.end()), want, tol);
}

// MaxPooling2D and AveragePooling2D from a case's attrs (no strides attr:
// Keras' default, the pool size).
template <class PoolProto>
void set_pool_attrs(const Case& c, PoolProto* pool) {
  for (int v : c.ints("pool_size")) pool->add_pool_size(v);
  if (c.has_attr("strides"))
    for (int v : c.ints("strides")) pool->add_strides(v);
  pool->set_padding(c.attr("padding")[0]);
}

// Copies a golden tensor into a layer's parameter, whose shape must be the
// tensor's (this is where a kernel in the wrong layout would show).
inline void set_parameter(gradtest::LayerHarness& h, const std::string& suffix, const Tensor& t) {
  const int id = h.params().find(h.layer().name() + "/" + suffix);
  ASSERT_GE(id, 0) << h.layer().name() << "/" << suffix;
  ASSERT_EQ(h.params().info(id).shape, t.shape) << h.layer().name() << "/" << suffix;
  const std::vector<float> v = t.floats();
  std::copy(v.begin(), v.end(), h.params().value(id));
}

inline const float* parameter_grad(gradtest::LayerHarness& h, const std::string& suffix) {
  return h.params().grad(h.params().find(h.layer().name() + "/" + suffix));
}

// Feeds the case's x and dy (as the harness' objective weights) into the
// harness' layer, runs forward and backward once, and checks y and dx.
inline void run_and_compare_activations(gradtest::LayerHarness& h, const Case& c) {
  ASSERT_EQ(h.layer().output_shape(), c.tensor("y").per_sample()) << c.name;
  h.x() = c.tensor("x").floats();
  h.w() = c.tensor("dy").floats();
  std::vector<double> unused;
  const std::vector<double> dx = h.analytic(&unused);
  expect_close(c.name + " y", h.y(), c.tensor("y"));
  expect_close(c.name + " dx", dx, c.tensor("dx"));
}

}  // namespace lockstep::golden
