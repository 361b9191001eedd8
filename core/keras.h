// C++ calls that read like Keras and produce the same ModelSpec a .pbtxt
// would:
//   keras::Sequential model({14});
//   model.add(keras::Dense(64).kernel_initializer("uniform"));
//   model.add(keras::BatchNormalization());
//   model.add(keras::Activation("tanh"));
//   model.add(keras::Dropout(0.5));
//   Model m(model.spec());
// and for images (channels last):
//   keras::Sequential cnn({28, 28, 1});
//   cnn.add(keras::Conv2D(32, 3).padding("same"));
//   cnn.add(keras::MaxPooling2D(2));
//   cnn.add(keras::Flatten());
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "model.pb.h"

namespace lockstep::keras {

class Dense {
 public:
  explicit Dense(int units) { spec_.mutable_dense()->set_units(units); }
  Dense& activation(const std::string& a) { return spec_.mutable_dense()->set_activation(a), *this; }
  Dense& use_bias(bool b) { return spec_.mutable_dense()->set_use_bias(b), *this; }
  Dense& kernel_initializer(const std::string& s) { return spec_.mutable_dense()->set_kernel_initializer(s), *this; }
  Dense& bias_initializer(const std::string& s) { return spec_.mutable_dense()->set_bias_initializer(s), *this; }
  Dense& name(const std::string& n) { return spec_.set_name(n), *this; }
  operator LayerSpec() const { return spec_; }

 private:
  LayerSpec spec_;
};

class BatchNormalization {
 public:
  BatchNormalization() { spec_.mutable_batch_normalization(); }
  BatchNormalization& momentum(float m) { return bn()->set_momentum(m), *this; }
  BatchNormalization& epsilon(float e) { return bn()->set_epsilon(e), *this; }
  BatchNormalization& center(bool c) { return bn()->set_center(c), *this; }
  BatchNormalization& scale(bool s) { return bn()->set_scale(s), *this; }
  BatchNormalization& beta_initializer(const std::string& s) { return bn()->set_beta_initializer(s), *this; }
  BatchNormalization& gamma_initializer(const std::string& s) { return bn()->set_gamma_initializer(s), *this; }
  BatchNormalization& moving_mean_initializer(const std::string& s) {
    return bn()->set_moving_mean_initializer(s), *this;
  }
  BatchNormalization& moving_variance_initializer(const std::string& s) {
    return bn()->set_moving_variance_initializer(s), *this;
  }
  BatchNormalization& synchronized(bool s, int group_size = 0) {
    bn()->set_synchronized(s);
    bn()->set_sync_group_size(group_size);
    return *this;
  }
  BatchNormalization& name(const std::string& n) { return spec_.set_name(n), *this; }
  operator LayerSpec() const { return spec_; }

 private:
  lockstep::BatchNormalization* bn() { return spec_.mutable_batch_normalization(); }
  LayerSpec spec_;
};

class Activation {
 public:
  explicit Activation(const std::string& a) { spec_.mutable_activation()->set_activation(a); }
  Activation& alpha(float a) { return spec_.mutable_activation()->set_alpha(a), *this; }
  Activation& name(const std::string& n) { return spec_.set_name(n), *this; }
  operator LayerSpec() const { return spec_; }

 private:
  LayerSpec spec_;
};

class Dropout {
 public:
  explicit Dropout(float rate) { spec_.mutable_dropout()->set_rate(rate); }
  Dropout& name(const std::string& n) { return spec_.set_name(n), *this; }
  operator LayerSpec() const { return spec_; }

 private:
  LayerSpec spec_;
};

class Conv2D {
 public:
  // kernel_size: one number (square) or two (height, width), as in Keras.
  Conv2D(int filters, std::initializer_list<int> kernel_size) {
    c()->set_filters(filters);
    for (int k : kernel_size) c()->add_kernel_size(k);
  }
  Conv2D(int filters, int kernel_size) : Conv2D(filters, {kernel_size}) {}
  Conv2D& strides(std::initializer_list<int> s) {
    for (int v : s) c()->add_strides(v);
    return *this;
  }
  Conv2D& strides(int s) { return strides({s}); }
  Conv2D& padding(const std::string& p) { return c()->set_padding(p), *this; }
  Conv2D& dilation_rate(std::initializer_list<int> d) {
    for (int v : d) c()->add_dilation_rate(v);
    return *this;
  }
  Conv2D& dilation_rate(int d) { return dilation_rate({d}); }
  Conv2D& activation(const std::string& a) { return c()->set_activation(a), *this; }
  Conv2D& use_bias(bool b) { return c()->set_use_bias(b), *this; }
  Conv2D& kernel_initializer(const std::string& s) { return c()->set_kernel_initializer(s), *this; }
  Conv2D& bias_initializer(const std::string& s) { return c()->set_bias_initializer(s), *this; }
  Conv2D& name(const std::string& n) { return spec_.set_name(n), *this; }
  operator LayerSpec() const { return spec_; }

 private:
  lockstep::Conv2D* c() { return spec_.mutable_conv2d(); }
  LayerSpec spec_;
};

// MaxPooling2D and AveragePooling2D: pool_size and strides as in Keras
// (strides default to the pool size).
template <class Spec, Spec* (LayerSpec::*Mutable)()>
class Pooling2D {
 public:
  explicit Pooling2D(std::initializer_list<int> pool_size = {2}) {
    for (int v : pool_size) p()->add_pool_size(v);
  }
  explicit Pooling2D(int pool_size) : Pooling2D({pool_size}) {}
  Pooling2D& strides(std::initializer_list<int> s) {
    for (int v : s) p()->add_strides(v);
    return *this;
  }
  Pooling2D& strides(int s) { return strides({s}); }
  Pooling2D& padding(const std::string& pad) { return p()->set_padding(pad), *this; }
  Pooling2D& name(const std::string& n) { return spec_.set_name(n), *this; }
  operator LayerSpec() const { return spec_; }

 private:
  Spec* p() { return (spec_.*Mutable)(); }
  LayerSpec spec_;
};
using MaxPooling2D = Pooling2D<lockstep::MaxPooling2D, &LayerSpec::mutable_max_pooling2d>;
using AveragePooling2D = Pooling2D<lockstep::AveragePooling2D, &LayerSpec::mutable_average_pooling2d>;

class GlobalAveragePooling2D {
 public:
  GlobalAveragePooling2D() { spec_.mutable_global_average_pooling2d(); }
  GlobalAveragePooling2D& name(const std::string& n) { return spec_.set_name(n), *this; }
  operator LayerSpec() const { return spec_; }

 private:
  LayerSpec spec_;
};

class Flatten {
 public:
  Flatten() { spec_.mutable_flatten(); }
  Flatten& name(const std::string& n) { return spec_.set_name(n), *this; }
  operator LayerSpec() const { return spec_; }

 private:
  LayerSpec spec_;
};

class Normalization {
 public:
  Normalization() { spec_.mutable_normalization(); }
  // Fixed statistics (one value, or one per channel); without them
  // `trainer train` adapts the layer to the training data.
  Normalization& mean(std::initializer_list<float> m) {
    for (float v : m) spec_.mutable_normalization()->add_mean(v);
    return *this;
  }
  Normalization& variance(std::initializer_list<float> v) {
    for (float x : v) spec_.mutable_normalization()->add_variance(x);
    return *this;
  }
  Normalization& name(const std::string& n) { return spec_.set_name(n), *this; }
  operator LayerSpec() const { return spec_; }

 private:
  LayerSpec spec_;
};

class Sequential {
 public:
  Sequential(std::initializer_list<int> input_shape) {
    for (int d : input_shape) spec_.add_input_shape(d);
  }
  Sequential& add(const LayerSpec& layer) {
    *spec_.add_layers() = layer;
    return *this;
  }
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
};

}  // namespace lockstep::keras
