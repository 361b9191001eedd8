// The one place that turns a LayerSpec into a layer: a switch over the
// proto's oneof. Validation errors name the config field path.
#pragma once

#include <memory>
#include <string>

#include "core/layers/layer.h"
#include "model.pb.h"

namespace lockstep {

// Keras' name prefix for the layer type: "dense", "batch_normalization", ...
std::string layer_name_prefix(const LayerSpec& spec, const std::string& field);

// `field` is the spec's config path, e.g. "model.layers[3]".
std::unique_ptr<Layer> make_layer(const LayerSpec& spec, const std::string& name, const std::string& field);

}  // namespace lockstep
