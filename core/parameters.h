// All trainable parameters live in one arena and their gradients in a second
// arena with the same layout; non-trainable state (moving statistics) lives in
// a third. Layers declare what they need during build() and keep pointers into
// the arenas afterwards. Zeroing gradients is one memset, the optimizer is one
// flat loop, and the gradient all-reduce works on a few large buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/shape.h"

namespace lockstep {

struct InitializerSpec {
  std::string name;    // Keras name: zeros, ones, uniform, glorot_uniform, ...
  int64_t fan_in = 0;  // for variance-scaling initializers
  int64_t fan_out = 0;
};

struct ParameterInfo {
  std::string name;   // "dense_1/kernel"
  Shape shape;
  bool trainable = true;
  InitializerSpec initializer;
  size_t offset = 0;  // into the trainable or the state arena
  size_t size = 0;
};

class ParameterStore {
 public:
  // Returns an id for value()/grad(). Only before finalize().
  int declare(const std::string& name, const Shape& shape, bool trainable, InitializerSpec init);
  // Allocates the arenas (zeroed). Declaring afterwards is an error.
  void finalize();
  bool finalized() const { return finalized_; }

  float* value(int id);
  float* grad(int id);  // trainable parameters only
  const ParameterInfo& info(int id) const { return entries_[id]; }
  const std::vector<ParameterInfo>& entries() const { return entries_; }
  // Index of a parameter by name, -1 if absent.
  int find(const std::string& name) const;

  // Fills every tensor from its initializer; deterministic in (seed, name).
  void initialize(uint64_t seed);

  float* trainable_values() { return placed_values_ ? placed_values_ : own_values_.data(); }
  float* trainable_grads() { return placed_grads_ ? placed_grads_ : own_grads_.data(); }
  float* state_values() { return state_.data(); }
  size_t trainable_count() const { return trainable_size_; }
  size_t state_count() const { return state_.size(); }
  void zero_grads();

  // Moves the trainable values and their gradients, contents kept, into
  // memory the caller provides (trainable_count() floats each), e.g. memory
  // the ranks of a node share, so that a reduction can read the other ranks'
  // gradients and write their parameters in place. The caller keeps that
  // memory alive as long as this store; pointers taken before are stale
  // (Model::place_trainable binds its layers again).
  void place_trainable(float* values, float* grads);

 private:
  std::vector<ParameterInfo> entries_;
  std::vector<float> own_values_, own_grads_, state_;
  float* placed_values_ = nullptr;  // set by place_trainable()
  float* placed_grads_ = nullptr;
  size_t trainable_size_ = 0, state_size_ = 0;
  bool finalized_ = false;
};

// Known initializer names, for error messages.
const std::vector<std::string>& known_initializers();
bool is_known_initializer(const std::string& name);

// Fills out[0..n) as Keras' initializer `spec` would (same distributions;
// values come from lockstep's own portable generator).
void fill_initializer(const InitializerSpec& spec, uint64_t seed, float* out, size_t n);

}  // namespace lockstep
