// C++ calls that read like Keras and produce the same ModelSpec a .pbtxt
// would:
//   keras::Sequential model({14});
//   model.add(keras::Dense(64).kernel_initializer("uniform"));
//   model.add(keras::BatchNormalization());
//   model.add(keras::Activation("tanh"));
//   model.add(keras::Dropout(0.5));
//   Model m(model.spec());
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
