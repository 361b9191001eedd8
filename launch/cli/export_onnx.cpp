#include "launch/cli/export_onnx.h"

#include "core/error.h"

#ifndef LOCKSTEP_HAVE_ONNX

namespace lockstep::cli {

bool onnx_export_available() { return false; }

void write_onnx(Model&, const std::string& path) {
  throw_input_error(path, "this trainer was built without ONNX export: install libonnx-dev (it ships "
                          "onnx.proto) and configure the build again");
}

}  // namespace lockstep::cli

#else  // LOCKSTEP_HAVE_ONNX

#include <lockstep/version.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/layers/activation.h"
#include "core/layers/average_pooling2d.h"
#include "core/layers/batch_norm.h"
#include "core/layers/conv2d.h"
#include "core/layers/dense.h"
#include "core/layers/dropout.h"
#include "core/layers/flatten.h"
#include "core/layers/global_average_pooling2d.h"
#include "core/layers/max_pooling2d.h"
#include "core/layers/normalization.h"
#include "core/model.h"
#include "onnx.pb.h"

namespace lockstep::cli {
namespace {

// Opset 13 (ONNX 1.8): every operator used here exists in it with the
// semantics relied on (Softmax over one axis, explicit asymmetric pads), and
// every runtime of the last years loads it. IR version 7 came with it.
constexpr int64_t kOpset = 13;

void set_ints(onnx::NodeProto* node, const char* name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void set_int(onnx::NodeProto* node, const char* name, int64_t value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void set_float(onnx::NodeProto* node, const char* name, float value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

// The graph being built. lockstep's tensors are channels last; an image
// tensor ([N, H, W, C] in lockstep) is kept in whichever layout the last
// node left it and transposed only when the next operator needs the other
// one, so a run of convolutions and poolings pays for two Transposes.
class GraphBuilder {
 public:
  GraphBuilder(onnx::GraphProto* graph, const Shape& input_shape) : graph_(graph), shape_(input_shape) {}

  const std::string& tensor() const { return tensor_; }
  // Per sample, in lockstep's (channels-last) order whatever the layout.
  const Shape& shape() const { return shape_; }
  void set_shape(const Shape& shape) {
    shape_ = shape;
    if (!image()) channels_first_ = false;
  }
  bool image() const { return shape_.size() == 3; }
  bool channels_first() const { return channels_first_; }

  std::string constant(const std::string& name, const Shape& dims, const std::vector<float>& values) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return name;
  }
  std::string int64_constant(const std::string& name, const std::vector<int64_t>& values) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return name;
  }

  // A node writing tensor `name`, which the next layer reads.
  onnx::NodeProto* apply(const std::string& op, const std::string& name, const std::vector<std::string>& inputs) {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(name);
    for (const std::string& i : inputs) node->add_input(i);
    node->add_output(name);
    tensor_ = name;
    return node;
  }
  onnx::NodeProto* apply(const std::string& op, const std::string& name) { return apply(op, name, {tensor_}); }

  // Conv, pooling and BatchNormalization work on NCHW.
  void to_channels_first(const std::string& layer) {
    if (!image() || channels_first_) return;
    set_ints(apply("Transpose", layer + "/to_nchw"), "perm", {0, 3, 1, 2});
    channels_first_ = true;
  }
  // Flatten, Dense and the graph's output see lockstep's order.
  void to_channels_last(const std::string& layer) {
    if (!image() || !channels_first_) return;
    set_ints(apply("Transpose", layer + "/to_nhwc"), "perm", {0, 2, 3, 1});
    channels_first_ = false;
  }
  // Dimensions of a per-channel constant that broadcasts over the tensor.
  Shape channel_dims(int64_t channels) const {
    return channels_first_ ? Shape{channels, 1, 1} : Shape{channels};
  }

  // The last tensor becomes the graph's "output".
  void finish() {
    to_channels_last("output");
    if (graph_->node_size() == 0) apply("Identity", "output");
    else graph_->mutable_node(graph_->node_size() - 1)->set_output(0, "output");
    tensor_ = "output";
  }

 private:
  onnx::GraphProto* graph_;
  Shape shape_;
  std::string tensor_ = "input";
  bool channels_first_ = false;
};

std::vector<float> values_of(ParameterStore& params, const std::string& name) {
  const int id = params.find(name);
  if (id < 0) return {};
  const float* v = params.value(id);
  return std::vector<float>(v, v + numel(params.info(id).shape));
}

// Keras' exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), as lockstep
// computes it (activation_functions.cpp): ONNX has no Gelu before opset 20.
void export_gelu(GraphBuilder& b, const std::string& n) {
  const std::string x = b.tensor();
  b.apply("Mul", n + "/gelu_scaled", {x, b.constant(n + "/gelu_inv_sqrt2", {}, {0.70710678118654752f})});
  b.apply("Erf", n + "/gelu_erf");
  b.apply("Add", n + "/gelu_one_plus", {b.tensor(), b.constant(n + "/gelu_one", {}, {1.0f})});
  b.apply("Mul", n + "/gelu_times_x", {x, b.tensor()});
  b.apply("Mul", n + "/gelu", {b.tensor(), b.constant(n + "/gelu_half", {}, {0.5f})});
}

// lockstep's softmax spans a sample's every value; ONNX's (opset 13) one
// axis, so a sample of several axes is flattened around it.
void export_softmax(GraphBuilder& b, const std::string& n) {
  if (b.shape().size() <= 1) {
    set_int(b.apply("Softmax", n + "/Softmax"), "axis", -1);
    return;
  }
  b.to_channels_last(n);
  set_int(b.apply("Flatten", n + "/softmax_flat"), "axis", 1);
  set_int(b.apply("Softmax", n + "/Softmax"), "axis", -1);
  std::vector<int64_t> dims = {-1};
  dims.insert(dims.end(), b.shape().begin(), b.shape().end());
  b.apply("Reshape", n + "/softmax_shaped", {b.tensor(), b.int64_constant(n + "/softmax_shape", dims)});
}

void export_activation(GraphBuilder& b, const ActivationFn& f, const std::string& n) {
  switch (f.kind) {
    case ActivationKind::kLinear: return;
    case ActivationKind::kRelu: b.apply("Relu", n + "/Relu"); return;
    case ActivationKind::kTanh: b.apply("Tanh", n + "/Tanh"); return;
    case ActivationKind::kSigmoid: b.apply("Sigmoid", n + "/Sigmoid"); return;
    case ActivationKind::kElu: set_float(b.apply("Elu", n + "/Elu"), "alpha", f.alpha); return;
    case ActivationKind::kLeakyRelu: set_float(b.apply("LeakyRelu", n + "/LeakyRelu"), "alpha", f.alpha); return;
    case ActivationKind::kGelu: export_gelu(b, n); return;
    case ActivationKind::kSoftmax: export_softmax(b, n); return;
  }
}

void export_dense(GraphBuilder& b, DenseLayer& layer, ParameterStore& params) {
  const std::string& n = layer.name();
  const int64_t in = layer.input_width(), out = layer.output_width();
  // Keras' kernel is [in, out]: Gemm's B as it is (transB = 0).
  std::vector<std::string> inputs = {b.tensor(), b.constant(n + "/kernel", {in, out}, values_of(params, n + "/kernel"))};
  if (params.find(n + "/bias") >= 0) inputs.push_back(b.constant(n + "/bias", {out}, values_of(params, n + "/bias")));
  b.apply("Gemm", n + "/Gemm", inputs);
  b.set_shape(layer.output_shape());
  export_activation(b, layer.activation(), n);
}

// ONNX pads [top, left, bottom, right]: Keras' "same" puts the odd row or
// column at the bottom/right, which ONNX's symmetric auto_pad would not.
std::vector<int64_t> explicit_pads(const WindowAxis& h, const WindowAxis& w) {
  const auto after = [](const WindowAxis& a) {
    return std::max<int64_t>((a.output - 1) * a.stride + a.span() - a.input - a.pad_before, 0);
  };
  return {h.pad_before, w.pad_before, after(h), after(w)};
}

void export_conv2d(GraphBuilder& b, Conv2DLayer& layer, ParameterStore& params) {
  const std::string& n = layer.name();
  const Conv2DOptions& o = layer.options();
  const int64_t kh = o.kernel_h, kw = o.kernel_w, in = layer.input_shape()[2], f = o.filters;
  // Keras [kh, kw, in, filters] -> ONNX [filters, in, kh, kw].
  const std::vector<float> k = values_of(params, n + "/kernel");
  std::vector<float> w(k.size());
  for (int64_t y = 0; y < kh; ++y)
    for (int64_t x = 0; x < kw; ++x)
      for (int64_t c = 0; c < in; ++c)
        for (int64_t j = 0; j < f; ++j) w[((j * in + c) * kh + y) * kw + x] = k[((y * kw + x) * in + c) * f + j];
  b.to_channels_first(n);
  std::vector<std::string> inputs = {b.tensor(), b.constant(n + "/kernel", {f, in, kh, kw}, w)};
  if (params.find(n + "/bias") >= 0) inputs.push_back(b.constant(n + "/bias", {f}, values_of(params, n + "/bias")));
  onnx::NodeProto* node = b.apply("Conv", n + "/Conv", inputs);
  set_ints(node, "kernel_shape", {kh, kw});
  set_ints(node, "strides", {o.stride_h, o.stride_w});
  set_ints(node, "dilations", {o.dilation_h, o.dilation_w});
  set_ints(node, "pads", explicit_pads(layer.rows_axis(), layer.columns_axis()));
  b.set_shape(layer.output_shape());
  export_activation(b, o.activation, n);
}

void export_pooling(GraphBuilder& b, const Layer& layer, const PoolOptions& o, const std::string& op) {
  const Shape& in = layer.input_shape();
  const WindowAxis h = window_axis("height", in[0], o.pool_h, o.stride_h, 1, o.same_padding);
  const WindowAxis w = window_axis("width", in[1], o.pool_w, o.stride_w, 1, o.same_padding);
  b.to_channels_first(layer.name());
  onnx::NodeProto* node = b.apply(op, layer.name() + "/" + op);
  set_ints(node, "kernel_shape", {o.pool_h, o.pool_w});
  set_ints(node, "strides", {o.stride_h, o.stride_w});
  set_ints(node, "pads", explicit_pads(h, w));
  // Keras averages over the cells inside the image only.
  if (op == "AveragePool") set_int(node, "count_include_pad", 0);
  b.set_shape(layer.output_shape());
}

// Inference form: the moving statistics, ONNX's default training_mode 0.
void export_batch_norm(GraphBuilder& b, BatchNormLayer& layer, ParameterStore& params) {
  const std::string& n = layer.name();
  const int64_t c = layer.channels();
  if (b.shape().size() != 1 && !b.image())
    throw_input_error(n, "ONNX export takes BatchNormalization on [features] or [H, W, C] inputs, got " +
                             shape_string(b.shape()));
  std::vector<float> gamma = values_of(params, n + "/gamma"), beta = values_of(params, n + "/beta");
  if (gamma.empty()) gamma.assign(c, 1.0f);  // scale: false
  if (beta.empty()) beta.assign(c, 0.0f);    // center: false
  b.to_channels_first(n);  // ONNX normalizes axis 1: [N, C] already has it there
  onnx::NodeProto* node = b.apply("BatchNormalization", n + "/BatchNormalization",
                                  {b.tensor(), b.constant(n + "/gamma", {c}, gamma), b.constant(n + "/beta", {c}, beta),
                                   b.constant(n + "/moving_mean", {c}, values_of(params, n + "/moving_mean")),
                                   b.constant(n + "/moving_variance", {c}, values_of(params, n + "/moving_variance"))});
  set_float(node, "epsilon", layer.options().epsilon);
}

// y = (x - mean) * (1 / max(sqrt(variance), 1e-7)), the scale computed as
// NormalizationLayer does (its epsilon is Keras' 1e-7).
void export_normalization(GraphBuilder& b, NormalizationLayer& layer, ParameterStore& params) {
  const std::string& n = layer.name();
  const std::vector<float> mean = values_of(params, n + "/mean"), variance = values_of(params, n + "/variance");
  std::vector<float> inverse(variance.size());
  for (size_t k = 0; k < variance.size(); ++k) inverse[k] = 1.0f / std::max(std::sqrt(variance[k]), 1e-7f);
  const Shape dims = b.channel_dims(static_cast<int64_t>(mean.size()));
  b.apply("Sub", n + "/Sub", {b.tensor(), b.constant(n + "/mean", dims, mean)});
  b.apply("Mul", n + "/Mul", {b.tensor(), b.constant(n + "/inverse_std", dims, inverse)});
}

void export_layer(GraphBuilder& b, Layer& layer, ParameterStore& params) {
  const std::string& n = layer.name();
  if (auto* d = dynamic_cast<DenseLayer*>(&layer)) return export_dense(b, *d, params);
  if (auto* c = dynamic_cast<Conv2DLayer*>(&layer)) return export_conv2d(b, *c, params);
  if (auto* bn = dynamic_cast<BatchNormLayer*>(&layer)) return export_batch_norm(b, *bn, params);
  if (auto* a = dynamic_cast<ActivationLayer*>(&layer)) return export_activation(b, a->activation(), n);
  if (auto* norm = dynamic_cast<NormalizationLayer*>(&layer)) return export_normalization(b, *norm, params);
  if (dynamic_cast<DropoutLayer*>(&layer)) return;  // identity at inference
  if (auto* p = dynamic_cast<MaxPooling2DLayer*>(&layer)) return export_pooling(b, *p, p->options(), "MaxPool");
  if (auto* p = dynamic_cast<AveragePooling2DLayer*>(&layer))
    return export_pooling(b, *p, p->options(), "AveragePool");
  if (dynamic_cast<GlobalAveragePooling2DLayer*>(&layer)) {
    b.to_channels_first(n);
    b.apply("GlobalAveragePool", n + "/GlobalAveragePool");
    set_int(b.apply("Flatten", n + "/Flatten"), "axis", 1);  // [N, C, 1, 1] -> [N, C]
    return b.set_shape(layer.output_shape());
  }
  if (dynamic_cast<FlattenLayer*>(&layer)) {
    b.to_channels_last(n);  // lockstep flattens in (H, W, C) order
    set_int(b.apply("Flatten", n + "/Flatten"), "axis", 1);
    return b.set_shape(layer.output_shape());
  }
  throw_input_error(n, std::string("ONNX export does not know ") + layer.type_name() + " layers");
}

// A float tensor [N, shape...] with a symbolic batch axis.
void describe(onnx::ValueInfoProto* value, const std::string& name, const Shape& shape) {
  value->set_name(name);
  onnx::TypeProto::Tensor* t = value->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  for (int64_t d : shape) t->mutable_shape()->add_dim()->set_dim_value(d);
}

// Temporary file, then rename: an interrupted export leaves no partial model.
void save(const onnx::ModelProto& m, const std::string& path) {
  if (m.ByteSizeLong() > static_cast<size_t>(INT_MAX))
    throw_input_error(path, "the ONNX model would exceed 2 GiB, protobuf's limit for one message (ONNX's "
                            "external data files are not supported)");
  const std::string bytes = m.SerializeAsString();
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw_runtime_error(path, std::string("cannot write: ") + std::strerror(errno));
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const int saved_errno = errno;
  if (std::fclose(f) != 0 || !written || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(written ? errno : saved_errno);
    std::remove(tmp.c_str());
    throw_runtime_error(path, "cannot write: " + why);
  }
}

}  // namespace

bool onnx_export_available() { return true; }

void write_onnx(Model& model, const std::string& path) {
  onnx::ModelProto m;
  m.set_ir_version(onnx::IR_VERSION_2020_5_8);
  m.set_producer_name("lockstep");
  m.set_producer_version(LOCKSTEP_VERSION);
  m.set_doc_string("input and output channels last, as in lockstep ([N, H, W, C] for images)");
  onnx::OperatorSetIdProto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  onnx::GraphProto* graph = m.mutable_graph();
  graph->set_name(model.name());
  GraphBuilder b(graph, model.input_shape());
  for (size_t i = 0; i < model.layer_count(); ++i) export_layer(b, model.layer(i), model.parameters());
  b.finish();
  describe(graph->add_input(), "input", model.input_shape());
  describe(graph->add_output(), "output", model.output_shape());
  save(m, path);
}

}  // namespace lockstep::cli

#endif  // LOCKSTEP_HAVE_ONNX
