// `trainer export MODEL.pb OUT.onnx`: a trained model as an ONNX graph
// (opset 13), built with ONNX's own protobuf schema (libonnx-dev's
// onnx.proto, compiled by the project's protoc). The graph takes and gives
// lockstep's channels-last layout; the convolutional part runs in ONNX's
// NCHW between two Transposes.
#pragma once

#include <string>

namespace lockstep {
class Model;
}

namespace lockstep::cli {

// False when this trainer was built without onnx.proto (write_onnx then
// throws an error saying how to get it).
bool onnx_export_available();

// Writes `model` (its parameters and moving statistics as they are) to
// `path`. Layers ONNX export does not know: exit 2; writing fails: exit 1.
void write_onnx(Model& model, const std::string& path);

}  // namespace lockstep::cli
