#include "core/model.h"

#include <algorithm>
#include <map>

#include "core/checked_size.h"
#include "core/communicator.h"
#include "core/error.h"
#include "core/layers/layer_factory.h"
#include "core/trace.h"

namespace lockstep {

Model::Model(const ModelSpec& spec, uint64_t seed, const std::string& field) : Model(spec, Unallocated{}, field) {
  allocate(seed);
}

Model::Model(const ModelSpec& spec, Unallocated, const std::string& field) : spec_(spec) {
  if (spec.input_shape_size() == 0)
    throw_input_error(field + ".input_shape", "missing: give the shape of one sample, e.g. input_shape: 14");
  for (int d : spec.input_shape()) {
    if (d <= 0) throw_input_error(field + ".input_shape", "sizes must be > 0, got " + std::to_string(d));
    input_shape_.push_back(d);
  }
  (void)checked_numel(input_shape_, field + ".input_shape");
  if (spec.layers_size() == 0) throw_input_error(field + ".layers", "the model has no layers");

  std::map<std::string, int> counts;
  Shape shape = input_shape_;
  std::vector<std::pair<int, int>> param_ids;  // [first, end) declared by each layer
  for (int i = 0; i < spec.layers_size(); ++i) {
    const LayerSpec& ls = spec.layers(i);
    const std::string where = field + ".layers[" + std::to_string(i) + "]";
    const std::string prefix = layer_name_prefix(ls, where);
    const std::string name = ls.has_name() ? ls.name() : prefix + "_" + std::to_string(++counts[prefix]);
    for (const auto& l : layers_)
      if (l->name() == name) throw_input_error(where + ".name", "duplicate layer name '" + name + "'");
    auto layer = make_layer(ls, name, where);
    layer->set_index(i);
    const int first = static_cast<int>(params_.entries().size());
    try {
      shape = layer->build(shape, params_);
    } catch (const Error& e) {  // the config path; the message names the layer
      throw Error(where, name + " (" + layer->type_name() + "): " + e.message(), e.exit_code());
    }
    // Only the first layer's input is the data that adapt() sees.
    if (i > 0 && layer->adapts_to_data())
      throw_input_error(where, name + " (" + layer->type_name() +
                                   "): only the first layer can adapt to the training data; give its mean and variance");
    param_ids.emplace_back(first, static_cast<int>(params_.entries().size()));
    layers_.push_back(std::move(layer));
  }
  // Layers that need no pass of their own: an activation the layer before
  // applies itself, and views (Flatten). Layer 0 has no earlier buffer.
  absorbed_.assign(layers_.size(), false);
  for (size_t i = 1; i < layers_.size(); ++i) {
    const ActivationFn* f = layers_[i]->elementwise_activation();
    absorbed_[i] = layers_[i]->passes_input_through() ||
                   (f && !absorbed_[i - 1] && layers_[i - 1]->absorb_activation(*f));
  }
  absorbs_.assign(layers_.size(), std::string());
  for (size_t i = 1, runner = 0; i < layers_.size(); ++i) {
    if (!absorbed_[i]) {
      runner = i;
      continue;
    }
    std::string& note = absorbs_[runner];
    note += (note.empty() ? "" : ",") + layers_[i]->name();
  }

  // Gradient ranges: a layer owns its parameters' arena span up to where the
  // next layer's parameters begin (alignment padding included).
  std::vector<size_t> begin(layers_.size(), SIZE_MAX);
  for (size_t i = 0; i < layers_.size(); ++i)
    for (int id = param_ids[i].first; id < param_ids[i].second; ++id)
      if (params_.info(id).trainable) begin[i] = std::min(begin[i], params_.info(id).offset);
  grad_ranges_.assign(layers_.size(), {0, 0});
  size_t next_begin = params_.trainable_count();
  for (size_t i = layers_.size(); i-- > 0;) {
    if (begin[i] == SIZE_MAX) continue;
    grad_ranges_[i] = {begin[i], next_begin};
    next_begin = begin[i];
  }
}

void Model::allocate(uint64_t seed) {
  if (allocated()) throw_runtime_error("model", "allocate() called twice");
  params_.finalize();
  params_.initialize(seed);
  for (auto& l : layers_) l->bind(params_);
}

void Model::unify_state(Communicator& world) {
  for (auto& l : layers_) l->unify_state(world);
}

void Model::connect(Communicator& world, bool sync_by_default) {
  std::map<int, Communicator*> by_group_size;
  for (auto& l : layers_) {
    int k = l->communication_group_size(sync_by_default);
    if (k == 0 || k >= world.size()) k = world.size();
    if (k <= 1) continue;  // local statistics
    if (!by_group_size.count(k)) {
      if (k == world.size()) {
        by_group_size[k] = &world;
      } else {
        group_comms_.push_back(world.split(world.rank() / k, world.rank()));
        by_group_size[k] = group_comms_.back().get();
      }
    }
    l->set_communicator(by_group_size[k]);
  }
}

ActivationKind Model::final_activation() const {
  return layers_.back()->output_activation();
}

void Model::fuse_final_activation() {
  layers_.back()->fuse_output_activation();
}

Model::BufferBytes Model::buffer_bytes(int64_t rows) const {
  BufferBytes b;
  int64_t widest = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    b.outputs.push_back(absorbed_[i] ? 0 : rows_bytes(rows, l.output_width(), sizeof(float), l.name()));
    widest = std::max(widest, l.output_width());
  }
  // grad_a_, grad_b_ and output_grad_, as reserve() sizes them.
  const uint64_t ping_pong = mul_bytes(2, rows_bytes(rows, widest, sizeof(float), "model"), "model");
  b.backward = add_bytes(ping_pong, rows_bytes(rows, output_width(), sizeof(float), "model"), "model");
  return b;
}

void Model::reserve(int64_t max_rows) {
  if (!allocated()) throw_runtime_error("model", "reserve() before allocate()");
  if (max_rows <= reserved_rows_) return;
  reserved_rows_ = max_rows;
  activations_.resize(layers_.size());
  outputs_.resize(layers_.size());
  // Gradient ping-pong buffers hold dL/d(input) of layers 1..n-1; layer 0
  // computes none (the data needs no gradient), so the model's input width,
  // often the widest, does not count.
  int64_t widest = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!absorbed_[i]) activations_[i].assign(static_cast<size_t>(max_rows * layers_[i]->output_width()), 0.0f);
    outputs_[i] = absorbed_[i] ? outputs_[i - 1] : activations_[i].data();
    widest = std::max(widest, layers_[i]->output_width());
    layers_[i]->reserve(max_rows);
  }
  grad_a_.assign(static_cast<size_t>(max_rows * widest), 0.0f);
  grad_b_.assign(grad_a_.size(), 0.0f);
  output_grad_.assign(static_cast<size_t>(max_rows * output_width()), 0.0f);
}

void Model::place_trainable(float* values, float* grads) {
  params_.place_trainable(values, grads);
  for (auto& l : layers_) l->bind(params_);
}

const float* Model::forward(const StepContext& ctx, const float* input, int64_t rows) {
  if (rows > reserved_rows_)
    throw_runtime_error("model", "batch of " + std::to_string(rows) + " rows exceeds the reserved " +
                                     std::to_string(reserved_rows_));
  last_input_ = input;
  const float* x = input;
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!absorbed_[i]) {
      ScopedTraceEvent event(layers_[i]->name().c_str(), TraceCategory::kForward, static_cast<int64_t>(i),
                             absorbs_[i].empty() ? nullptr : absorbs_[i].c_str());
      layers_[i]->forward(ctx, x, outputs_[i], rows);
    }
    x = outputs_[i];
  }
  return x;
}

void Model::backward(const StepContext& ctx, const float* grad_output, int64_t rows, GradientSync* sync) {
  const float* dy = grad_output;
  for (size_t i = layers_.size(); i-- > 0;) {
    if (absorbed_[i]) continue;  // the layer before it takes dL/d(this output) as its dy
    const float* x = i == 0 ? last_input_ : outputs_[i - 1];
    float* dx = i == 0 ? nullptr : (dy == grad_a_.data() ? grad_b_.data() : grad_a_.data());
    {
      ScopedTraceEvent event(layers_[i]->name().c_str(), TraceCategory::kBackward, static_cast<int64_t>(i),
                             absorbs_[i].empty() ? nullptr : absorbs_[i].c_str());
      layers_[i]->backward(ctx, x, outputs_[i], dy, dx, rows);
    }
    if (sync && grad_ranges_[i].second > grad_ranges_[i].first) sync->ready(grad_ranges_[i].first, grad_ranges_[i].second);
    dy = dx;
  }
}

bool Model::adapts_to_data() const {
  return !layers_.empty() && layers_[0]->adapts_to_data();
}

void Model::adapt(const float* samples, int64_t rows, Communicator* sum_over) {
  if (adapts_to_data()) layers_[0]->adapt(samples, rows, sum_over);
}

}  // namespace lockstep
