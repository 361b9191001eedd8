// The layer contract. Activations are [rows, width] row-major float buffers
// (width = numel of the per-sample shape; channels last). A layer declares its
// parameters in build(), gets pointers into the arenas in bind(), sizes its
// caches once in reserve(), and from then on forward/backward allocate nothing.
#pragma once

#include <cstdint>
#include <string>

#include "core/checked_size.h"
#include "core/layers/activation_functions.h"
#include "core/parameters.h"
#include "core/shape.h"

namespace lockstep {

class Communicator;

// What a layer may need to know about the step it is part of.
struct StepContext {
  bool training = false;
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t step = 0;          // global optimizer step (dropout key)
  int64_t batch_offset = 0;  // position of this rank's first row in the global batch
  int64_t global_rows = 0;   // rows in the global batch (all ranks)
};

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  virtual const char* type_name() const = 0;  // Keras class name, e.g. "Dense"

  // Declares parameters; returns the per-sample output shape. Called once.
  Shape build(const Shape& input_shape, ParameterStore& store) {
    input_shape_ = input_shape;
    output_shape_ = build_impl(input_shape, store);
    // Buffer sizes multiply the output's width by rows: the width itself must
    // be a number (the Model names the layer in the error).
    (void)checked_numel(output_shape_, "");
    return output_shape_;
  }
  // The arenas exist now: cache pointers into them.
  virtual void bind(ParameterStore& store) {}
  // Size caches for up to max_rows rows.
  virtual void reserve(int64_t max_rows) {}
  // The bytes reserve(max_rows) would allocate (caches, masks, scratch),
  // computed without allocating and with checked arithmetic (an input error
  // when it does not fit in 64 bits): the memory plan asks every layer
  // before anything is allocated, so a model too big for the machine is
  // refused instead of failing half-way. Parameters and the layer's output
  // buffer are the model's and not counted here.
  virtual uint64_t scratch_bytes(int64_t max_rows) const { return 0; }
  // Layers whose statistics span several ranks' batches (synchronized
  // BatchNormalization) say over how many consecutive ranks: 0 = all ranks
  // of the job, k = groups of k, 1 = this rank alone (every other layer).
  // `sync_by_default`: the run's distributed.sync_batch_norm.
  virtual int communication_group_size(bool sync_by_default) const { return 1; }
  // The communicator for that group (when the group has several ranks).
  virtual void set_communicator(Communicator* comm) {}
  // True for layers with batch statistics (BatchNormalization), which the
  // summary and the start of a run describe.
  virtual bool normalizes_over_batch() const { return false; }
  // Collective over every rank, between steps: state that ranks computed
  // apart (moving statistics of BatchNormalization over fewer ranks than the
  // job) becomes the same on every rank, so a run describes one model.
  virtual void unify_state(Communicator& world) {}
  // Layers whose state is computed from the training data before the first
  // step (Keras' adapt(): Normalization without given statistics).
  virtual bool adapts_to_data() const { return false; }
  // x: this rank's `rows` input rows; sum_over: the ranks whose rows together
  // form the data (null: this rank holds all of it).
  virtual void adapt(const float* x, int64_t rows, Communicator* sum_over) {}
  // An element-wise activation layer (Activation relu, tanh, ...) says which
  // function it applies; others return null.
  virtual const ActivationFn* elementwise_activation() const { return nullptr; }
  // Offered the element-wise activation that follows this layer: a layer
  // that can apply it in its own output pass (BatchNormalization, relu)
  // returns true, and from then on forward writes f(y) and backward receives
  // dL/d f(y). The model then skips the activation layer, whose output is
  // this layer's: two passes over the activations fewer in forward, three in
  // backward, the same values bit for bit.
  virtual bool absorb_activation(const ActivationFn& f) { return false; }
  // True when the output is the input, value for value (Flatten: only the
  // shape changes): the model then runs the layer as a view of its input.
  virtual bool passes_input_through() const { return false; }
  // The activation the layer ends with: a loss may fold its derivative in.
  virtual ActivationKind output_activation() const { return ActivationKind::kLinear; }
  // From now on backward receives dL/d(input of that activation) as dy.
  virtual void fuse_output_activation() {}
  // Index of this layer in its model (keys dropout masks).
  void set_index(int index) { index_ = index; }

  // y = f(x) for `rows` rows (rows may be 0).
  virtual void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) = 0;
  // Given dL/dy, ACCUMULATES parameter gradients and writes dL/dx (dx may be
  // null: the first layer needs no input gradient). x and y are the buffers of
  // the matching forward call.
  virtual void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                        int64_t rows) = 0;

  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }
  int64_t input_width() const { return numel(input_shape_); }
  int64_t output_width() const { return numel(output_shape_); }

 protected:
  virtual Shape build_impl(const Shape& input_shape, ParameterStore& store) = 0;
  int index() const { return index_; }

 private:
  std::string name_;
  Shape input_shape_, output_shape_;
  int index_ = 0;
};

}  // namespace lockstep
