#include "core/layers/layer_factory.h"

#include <cmath>
#include <tuple>
#include <utility>

#include "core/layers/activation.h"
#include "core/layers/average_pooling2d.h"
#include "core/layers/batch_norm.h"
#include "core/layers/conv2d.h"
#include "core/layers/dense.h"
#include "core/layers/dropout.h"
#include "core/layers/flatten.h"
#include "core/layers/normalization.h"
#include "core/layers/global_average_pooling2d.h"
#include "core/layers/max_pooling2d.h"
#include "core/error.h"

namespace lockstep {
namespace {

constexpr const char* kKnownLayers =
    "dense, batch_normalization, activation, dropout, conv2d, max_pooling2d, average_pooling2d, "
    "global_average_pooling2d, flatten, normalization";

void check_initializer(const std::string& name, const std::string& field) {
  if (is_known_initializer(name)) return;
  std::string known;
  for (const auto& k : known_initializers()) known += (known.empty() ? "" : ", ") + k;
  throw_input_error(field, "unknown initializer '" + name + "' (known: " + known + ")");
}

std::unique_ptr<Layer> make_dense(const Dense& d, const std::string& name, const std::string& field) {
  if (!d.has_units()) throw_input_error(field + ".units", "missing: Dense needs the number of units");
  if (d.units() <= 0) throw_input_error(field + ".units", "must be > 0, got " + std::to_string(d.units()));
  DenseOptions o;
  o.units = d.units();
  o.activation = parse_activation(d.activation(), false, 0, field + ".activation");
  o.use_bias = d.use_bias();
  check_initializer(d.kernel_initializer(), field + ".kernel_initializer");
  check_initializer(d.bias_initializer(), field + ".bias_initializer");
  o.kernel_initializer = d.kernel_initializer();
  o.bias_initializer = d.bias_initializer();
  return std::make_unique<DenseLayer>(name, std::move(o));
}

// Keras' "an integer or a tuple of 2 integers": one number (both axes) or
// two (height, width), each >= 1; none gives `fallback` for both.
std::pair<int64_t, int64_t> pair_of(const google::protobuf::RepeatedField<int32_t>& values, int64_t fallback,
                                    const std::string& field) {
  if (values.size() > 2)
    throw_input_error(field, "give one number or two (height, width), got " + std::to_string(values.size()));
  for (int32_t v : values)
    if (v < 1) throw_input_error(field, "must be >= 1, got " + std::to_string(v));
  if (values.empty()) return {fallback, fallback};
  return {values.Get(0), values.Get(values.size() - 1)};
}

std::unique_ptr<Layer> make_conv2d(const Conv2D& c, const std::string& name, const std::string& field) {
  if (!c.has_filters()) throw_input_error(field + ".filters", "missing: Conv2D needs the number of filters");
  if (c.filters() <= 0) throw_input_error(field + ".filters", "must be > 0, got " + std::to_string(c.filters()));
  if (c.kernel_size_size() == 0)
    throw_input_error(field + ".kernel_size", "missing: Conv2D needs a kernel size, e.g. kernel_size: 3");
  Conv2DOptions o;
  o.filters = c.filters();
  std::tie(o.kernel_h, o.kernel_w) = pair_of(c.kernel_size(), 1, field + ".kernel_size");
  std::tie(o.stride_h, o.stride_w) = pair_of(c.strides(), 1, field + ".strides");
  std::tie(o.dilation_h, o.dilation_w) = pair_of(c.dilation_rate(), 1, field + ".dilation_rate");
  if ((o.stride_h > 1 || o.stride_w > 1) && (o.dilation_h > 1 || o.dilation_w > 1))
    throw_input_error(field + ".dilation_rate", "strides > 1 and dilation_rate > 1 together are not supported "
                                                "(Keras refuses them too)");
  o.same_padding = parse_padding(c.padding(), field + ".padding");
  o.activation = parse_activation(c.activation(), false, 0, field + ".activation");
  o.use_bias = c.use_bias();
  check_initializer(c.kernel_initializer(), field + ".kernel_initializer");
  check_initializer(c.bias_initializer(), field + ".bias_initializer");
  o.kernel_initializer = c.kernel_initializer();
  o.bias_initializer = c.bias_initializer();
  return std::make_unique<Conv2DLayer>(name, std::move(o));
}

template <class Pooling>
PoolOptions pool_options(const Pooling& p, const std::string& field) {
  PoolOptions o;
  std::tie(o.pool_h, o.pool_w) = pair_of(p.pool_size(), 2, field + ".pool_size");
  if (p.strides_size() == 0) {
    o.stride_h = o.pool_h, o.stride_w = o.pool_w;
  } else {
    std::tie(o.stride_h, o.stride_w) = pair_of(p.strides(), 1, field + ".strides");
  }
  o.same_padding = parse_padding(p.padding(), field + ".padding");
  return o;
}

std::unique_ptr<Layer> make_batch_norm(const BatchNormalization& b, const std::string& name,
                                       const std::string& field) {
  if (!(b.momentum() >= 0.0f && b.momentum() <= 1.0f))
    throw_input_error(field + ".momentum", "must be in [0, 1], got " + std::to_string(b.momentum()));
  if (!(b.epsilon() > 0.0f) || !std::isfinite(b.epsilon()))
    throw_input_error(field + ".epsilon", "must be > 0, got " + std::to_string(b.epsilon()));
  // 0 is the batch axis; other negative axes than -1 are not the channel axis.
  // (Whether a positive axis is the last one is checked when the layer is built.)
  if (b.axis() == 0 || b.axis() < -1)
    throw_input_error(field + ".axis", "axis " + std::to_string(b.axis()) +
                                           " is not supported: only the channel (last) axis, -1 or the input rank");
  if (b.sync_group_size() < 0)
    throw_input_error(field + ".sync_group_size", "must be >= 0 (0 = all ranks), got " +
                                                     std::to_string(b.sync_group_size()));
  BatchNormOptions o;
  o.axis = b.axis();
  o.momentum = b.momentum();
  o.epsilon = b.epsilon();
  o.center = b.center();
  o.scale = b.scale();
  check_initializer(b.beta_initializer(), field + ".beta_initializer");
  check_initializer(b.gamma_initializer(), field + ".gamma_initializer");
  check_initializer(b.moving_mean_initializer(), field + ".moving_mean_initializer");
  check_initializer(b.moving_variance_initializer(), field + ".moving_variance_initializer");
  o.beta_initializer = b.beta_initializer();
  o.gamma_initializer = b.gamma_initializer();
  o.moving_mean_initializer = b.moving_mean_initializer();
  o.moving_variance_initializer = b.moving_variance_initializer();
  if (b.has_synchronized()) o.synchronized = b.synchronized();
  o.sync_group_size = b.sync_group_size();
  return std::make_unique<BatchNormLayer>(name, std::move(o));
}

}  // namespace

std::string layer_name_prefix(const LayerSpec& spec, const std::string& field) {
  switch (spec.layer_case()) {
    case LayerSpec::kDense: return "dense";
    case LayerSpec::kBatchNormalization: return "batch_normalization";
    case LayerSpec::kActivation: return "activation";
    case LayerSpec::kDropout: return "dropout";
    case LayerSpec::kConv2D: return "conv2d";
    case LayerSpec::kMaxPooling2D: return "max_pooling2d";
    case LayerSpec::kAveragePooling2D: return "average_pooling2d";
    case LayerSpec::kGlobalAveragePooling2D: return "global_average_pooling2d";
    case LayerSpec::kFlatten: return "flatten";
    case LayerSpec::kNormalization: return "normalization";
    case LayerSpec::LAYER_NOT_SET: break;
  }
  throw_input_error(field, std::string("no layer type given (known: ") + kKnownLayers + ")");
}

std::unique_ptr<Layer> make_layer(const LayerSpec& spec, const std::string& name, const std::string& field) {
  switch (spec.layer_case()) {
    case LayerSpec::kDense: return make_dense(spec.dense(), name, field + ".dense");
    case LayerSpec::kBatchNormalization:
      return make_batch_norm(spec.batch_normalization(), name, field + ".batch_normalization");
    case LayerSpec::kActivation: {
      const Activation& a = spec.activation();
      if (!a.has_activation()) throw_input_error(field + ".activation.activation", "missing: name an activation");
      return std::make_unique<ActivationLayer>(
          name, parse_activation(a.activation(), a.has_alpha(), a.alpha(), field + ".activation.activation"));
    }
    case LayerSpec::kDropout: {
      const float rate = spec.dropout().rate();
      if (!(rate >= 0.0f && rate < 1.0f))
        throw_input_error(field + ".dropout.rate", "must be in [0, 1), got " + std::to_string(rate));
      return std::make_unique<DropoutLayer>(name, rate);
    }
    case LayerSpec::kConv2D: return make_conv2d(spec.conv2d(), name, field + ".conv2d");
    case LayerSpec::kMaxPooling2D:
      return std::make_unique<MaxPooling2DLayer>(name, pool_options(spec.max_pooling2d(), field + ".max_pooling2d"));
    case LayerSpec::kAveragePooling2D:
      return std::make_unique<AveragePooling2DLayer>(
          name, pool_options(spec.average_pooling2d(), field + ".average_pooling2d"));
    case LayerSpec::kGlobalAveragePooling2D: return std::make_unique<GlobalAveragePooling2DLayer>(name);
    case LayerSpec::kFlatten: return std::make_unique<FlattenLayer>(name);
    case LayerSpec::kNormalization: {
      const Normalization& n = spec.normalization();
      if (n.mean_size() != n.variance_size())
        throw_input_error(field + ".normalization", "give both mean and variance, or neither (adapt to the data)");
      return std::make_unique<NormalizationLayer>(name, std::vector<float>(n.mean().begin(), n.mean().end()),
                                                  std::vector<float>(n.variance().begin(), n.variance().end()));
    }
    case LayerSpec::LAYER_NOT_SET: break;
  }
  throw_input_error(field, std::string("no layer type given (known: ") + kKnownLayers + ")");
}

}  // namespace lockstep
