// Sequential model: built from a ModelSpec (the proto is the one source of
// truth; the C++ builders in core/keras.h produce the same spec). Owns the
// layers, the parameter arenas and activation buffers sized once for the
// largest batch, so forward/backward allocate nothing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/layers/activation_functions.h"
#include "core/communicator.h"  // complete type: ~Model destroys unique_ptr<Communicator>
#include "core/gradient_sync.h"
#include "core/layers/layer.h"
#include "core/parameters.h"
#include "model.pb.h"

namespace lockstep {

class Model {
 public:
  // Validates the spec (errors name `field`, e.g. "model.layers[2].dropout.rate")
  // and builds the layers and arenas. Parameters are initialised from `seed`.
  explicit Model(const ModelSpec& spec, uint64_t seed = 1, const std::string& field = "model");
  // The same checks and layers, parameters declared but nothing allocated:
  // shapes, parameter counts and the memory plan (core/memory_plan.h) of a
  // model that may be too big to hold. allocate() makes it a usable model.
  struct Unallocated {};
  Model(const ModelSpec& spec, Unallocated, const std::string& field = "model");
  // Allocates the arenas, initialises parameters from `seed`, binds the
  // layers. Once; a model built by the first constructor already is.
  void allocate(uint64_t seed);
  bool allocated() const { return params_.finalized(); }

  const ModelSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name(); }
  size_t layer_count() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_[i]; }
  const Layer& layer(size_t i) const { return *layers_[i]; }
  ParameterStore& parameters() { return params_; }
  const ParameterStore& parameters() const { return params_; }
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return layers_.empty() ? input_shape_ : layers_.back()->output_shape(); }
  int64_t input_width() const { return numel(input_shape_); }
  int64_t output_width() const { return numel(output_shape()); }

  // Gives synchronized BatchNormalization layers their group communicators
  // (split from `world` by sync_group_size). sync_by_default: the run's
  // distributed.sync_batch_norm, for layers that leave `synchronized` unset.
  void connect(Communicator& world, bool sync_by_default = true);
  // Collective: state the ranks computed apart (moving statistics of local
  // BatchNormalization) becomes the same everywhere (Layer::unify_state).
  void unify_state(Communicator& world);
  // Keras' adapt() before training: layers that take their state from the
  // data (Normalization) see the training samples. sum_over: the ranks that
  // together hold the data (null: every rank holds all of it).
  void adapt(const float* samples, int64_t rows, Communicator* sum_over);
  bool adapts_to_data() const;

  // The final activation (softmax/sigmoid) whose derivative the loss folds in.
  ActivationKind final_activation() const;
  // The loss supplies dL/d(input of the final activation) from now on.
  void fuse_final_activation();

  // Sizes activation buffers for up to max_rows rows (once; may grow).
  void reserve(int64_t max_rows);
  // What reserve(rows) allocates for the model's own buffers, computed
  // without allocating (checked arithmetic): each layer's output buffer (0
  // for a layer that has none) and the buffers backward passes gradients in.
  // Layers' caches: Layer::scratch_bytes.
  struct BufferBytes {
    std::vector<uint64_t> outputs;
    uint64_t backward = 0;
  };
  BufferBytes buffer_bytes(int64_t rows) const;
  // ParameterStore::place_trainable, then every layer binds again.
  void place_trainable(float* values, float* grads);
  int64_t reserved_rows() const { return reserved_rows_; }

  // Runs the layers on `rows` rows of input; returns the output buffer.
  const float* forward(const StepContext& ctx, const float* input, int64_t rows);
  // From dL/d(output) (see fuse_final_activation) back to the first layer,
  // accumulating into the gradient arena and telling `sync` (may be null)
  // as each layer's gradients become final.
  void backward(const StepContext& ctx, const float* grad_output, int64_t rows, GradientSync* sync);

  // Output of the last forward call.
  const float* output() const { return outputs_.back(); }
  // Layer i has no pass of its own: its activation runs inside layer i - 1
  // (Layer::absorb_activation), or its output is its input (Flatten).
  bool absorbed(size_t i) const { return absorbed_[i]; }
  // Writable buffer for the loss gradient, [reserved_rows, output_width].
  float* output_grad() { return output_grad_.data(); }

 private:
  ModelSpec spec_;
  Shape input_shape_;
  std::vector<std::unique_ptr<Layer>> layers_;
  ParameterStore params_;
  // Gradient-arena range [begin, end) of each layer's trainable parameters;
  // ranges tile the arena so GradientSync sees every element once.
  std::vector<std::pair<size_t, size_t>> grad_ranges_;
  std::vector<std::vector<float>> activations_;  // [i] = output of layer i (empty when absorbed)
  std::vector<float*> outputs_;                  // where layer i's output is: its own, or layer i - 1's
  std::vector<bool> absorbed_;                   // layer i runs inside layer i - 1
  // Timeline: the layers without a pass of their own that layer i's pass
  // covers ("activation_1", "flatten_1"), named in its events; "" = none.
  std::vector<std::string> absorbs_;
  std::vector<float> grad_a_, grad_b_, output_grad_;
  std::vector<std::unique_ptr<Communicator>> group_comms_;
  const float* last_input_ = nullptr;
  int64_t reserved_rows_ = 0;
};

}  // namespace lockstep
