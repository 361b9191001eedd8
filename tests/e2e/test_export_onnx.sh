#!/usr/bin/env bash
# trainer export MODEL.pb OUT.onnx and launch/to_torch.py, checked against
# trainer predict on the same samples (max |difference| <= 1e-5) for four
# trained models: fashion_mlp on Fashion-MNIST's test set (relu), seed_mlp
# (Dense, BatchNormalization, tanh, Dropout, softmax), cnn_small (Conv2D "same" with an even kernel and strides 2,
# MaxPooling2D, AveragePooling2D "same", Flatten) and cnn_more below (the
# other image layers and activations: Normalization, GlobalAveragePooling2D,
# dilation, asymmetric "same" pads, gelu, elu, leaky_relu, sigmoid,
# BatchNormalization without center or scale). The ONNX model must pass
# onnx.checker (full check) and strict shape inference; it is evaluated by
# tests/e2e/onnx_numpy.py, a NumPy interpreter that shares no code with
# lockstep or any ONNX runtime. The PyTorch module is loaded as a user would:
# a fresh process imports the generated code and loads the state_dict.
source "$(dirname "$0")/lib.sh"
if ! "$PYTHON" -c "import onnx, numpy" 2>/dev/null; then
  echo "SKIPPED: the ONNX checks need python3-onnx and python3-numpy"
  exit 77
fi
have_torch=1
"$PYTHON" -c "import torch" 2>/dev/null || have_torch=0
export PYTHONPATH="$SOURCE_DIR/tests/e2e${PYTHONPATH:+:$PYTHONPATH}"

cat >cnn_more.pbtxt <<'CFG'
model {
  input_shape: [9, 11, 3]
  layers { normalization {} }
  layers { conv2d { filters: 5 kernel_size: [4, 2] strides: 2 padding: "same" activation: "gelu" } }
  layers { max_pooling2d { pool_size: 3 strides: 2 padding: "same" } }
  layers { conv2d { filters: 6 kernel_size: 2 dilation_rate: 2 padding: "same" activation: "elu" use_bias: false } }
  layers { batch_normalization { center: false } }
  layers { activation { activation: "leaky_relu" alpha: 0.1 } }
  layers { average_pooling2d { pool_size: [2, 3] strides: 1 padding: "same" } }
  layers { conv2d { filters: 4 kernel_size: 1 activation: "sigmoid" } }
  layers { global_average_pooling2d {} }
  layers { dense { units: 8 activation: "gelu" } }
  layers { batch_normalization { scale: false } }
  layers { activation { activation: "elu" } }
  layers { dense { units: 3 activation: "softmax" } }
}
data { synthetic { samples: 240 features: 297 classes: 3 } }
loss: "sparse_categorical_crossentropy"
optimizer { adam { learning_rate: 0.01 } }
epochs: 2
batch_size: 32
seed: 3
verbose: 0
threads: 1
CFG

# name, config, input shape of one sample, samples compared: "random" (200
# of larger spread than the training data, exact in float32 — multiples of
# 1/1024 — so lockstep and NumPy read the same numbers) or "test" (the
# config's validation data: Fashion-MNIST's test set).
models=(
  "mlp $SOURCE_DIR/launch/configs/seed_mlp.pbtxt 14 random"
  "cnn_small $SOURCE_DIR/tests/e2e/configs/cnn_small.pbtxt 10,10,2 random"
  "cnn_more cnn_more.pbtxt 9,11,3 random"
)
fashion=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
if [[ -r $fashion ]]; then
  models+=("fashion_mlp $SOURCE_DIR/launch/configs/fashion_mlp.pbtxt 784 test")
else
  echo "note: $fashion missing (Debian: dataset-fashion-mnist): fashion_mlp not checked"
fi
for m in "${models[@]}"; do
  read -r name config shape samples <<<"$m"
  "$TRAINER" train "$config" --set epochs=2 --set run_dir="$name" --set verbose=0 >/dev/null \
    || { fail "$name: train"; continue; }
  # ${name}_x.npy: the inputs predict sees, as lockstep reads them.
  "$PYTHON" - "$name" "$shape" "$samples" "$fashion" <<'PY'
import gzip
import sys
import numpy as np
name, shape, samples, fashion = sys.argv[1], [int(d) for d in sys.argv[2].split(",")], sys.argv[3], sys.argv[4]
if samples == "random":
    x = np.round(np.random.default_rng(11).normal(0, 2, (200, int(np.prod(shape)))) * 1024) / 1024
    np.savetxt(f"{name}_test.csv", np.hstack([x, np.zeros((200, 1))]), delimiter=",", fmt="%.10g")
else:  # IDX bytes times the config's float scale, in double, rounded to float (core/data/readers.h)
    pixels = np.frombuffer(gzip.open(fashion).read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    x = (pixels.astype(np.float64) * float(np.float32(0.00392156862745098))).astype(np.float32).astype(np.float64)
np.save(f"{name}_x.npy", x.reshape([-1] + shape))
PY
  data=(--data "${name}_test.csv")
  [[ $samples == random ]] || data=()
  "$TRAINER" predict --model "$name/final" "${data[@]}" --output "${name}_pred.csv" >/dev/null \
    || { fail "$name: predict"; continue; }
  out=$("$TRAINER" export "$name/final/model.pb" "$name.onnx") && pass || { fail "$name: export"; continue; }
  [[ "$out" == *"ONNX, opset 13"* ]] && pass || fail "$name: export said: $out"
  "$PYTHON" - "$name" <<'PY' && pass || fail "$name: ONNX model differs from trainer predict"
import sys
import numpy as np
import onnx
import onnx_numpy
name = sys.argv[1]
model = onnx.load(f"{name}.onnx")
onnx.checker.check_model(model, full_check=True)
inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
dims = [d.dim_value or d.dim_param for d in inferred.graph.output[0].type.tensor_type.shape.dim]
assert model.opset_import[0].version == 13, model.opset_import
x = np.load(f"{name}_x.npy")
expected = np.loadtxt(f"{name}_pred.csv", delimiter=",", skiprows=1)[:, 2:]
assert dims == ["N", expected.shape[1]], dims
y = onnx_numpy.run(model, {"input": x})["output"]
diff = float(np.max(np.abs(y - expected)))
ops = sorted({n.op_type for n in model.graph.node})
print(f"{name}: ONNX graph ({len(model.graph.node)} nodes: {', '.join(ops)}) in NumPy vs trainer predict "
      f"({len(x)} samples): max |difference| {diff:.2e}")
assert diff <= 1e-5, diff
PY
  if ((have_torch)); then
    "$PYTHON" "$SOURCE_DIR/launch/to_torch.py" "$name/final/model.pb" "torch_$name.pt" >/dev/null \
      && pass || { fail "$name: to_torch.py"; continue; }
    "$PYTHON" - "$name" <<'PY' && pass || fail "$name: PyTorch model differs from trainer predict"
import importlib
import sys
import numpy as np
import torch
sys.path.insert(0, ".")
name = sys.argv[1]
net = importlib.import_module(f"torch_{name}").build()
net.load_state_dict(torch.load(f"torch_{name}.pt"))
net.eval()
x = np.load(f"{name}_x.npy")
expected = np.loadtxt(f"{name}_pred.csv", delimiter=",", skiprows=1)[:, 2:]
with torch.no_grad():
    y = net(torch.tensor(x, dtype=torch.float32)).numpy()
diff = float(np.max(np.abs(y - expected)))
print(f"{name}: PyTorch module (float32) vs trainer predict: max |difference| {diff:.2e}")
assert diff <= 1e-5, diff
PY
  fi
done

# The lockstep format stays the default for other extensions; --format wins.
"$TRAINER" export mlp/final/model.pb copy.pb >/dev/null && "$TRAINER" inspect copy.pb >/dev/null \
  && pass || fail "export to .pb"
"$TRAINER" export mlp/final/model.pb graph.bin --format onnx >/dev/null \
  && "$PYTHON" -c "import onnx; onnx.checker.check_model(onnx.load('graph.bin'))" && pass || fail "--format onnx"
expect_error 2 "unknown format 'keras'" -- "$TRAINER" export mlp/final/model.pb x.onnx --format keras
expect_error 1 "cannot write" -- "$TRAINER" export mlp/final/model.pb no/such/folder/x.onnx
[[ ! -e no/such/folder/x.onnx.tmp ]] && pass || fail "a partial file was left"
if ((have_torch)); then
  # .pt (or --format torch): the trainer runs launch/to_torch.py.
  "$TRAINER" export mlp/final/model.pb via_trainer.pt >/dev/null && cmp -s via_trainer.py torch_mlp.py \
    && "$PYTHON" -c "import torch, via_trainer; via_trainer.build().load_state_dict(torch.load('via_trainer.pt'))" \
    && pass || fail "trainer export to .pt"
  expect_error 2 "mlp.onnx: not a lockstep checkpoint" -- "$TRAINER" export mlp.onnx x.bin --format torch
  # A missing checkpoint is bad input (exit 2), as for trainer itself.
  expect_error 2 "missing.pb: cannot open checkpoint: No such file" -- "$PYTHON" "$SOURCE_DIR/launch/to_torch.py" missing.pb x.pt
  expect_error 2 "mlp.onnx: not a lockstep checkpoint" -- "$PYTHON" "$SOURCE_DIR/launch/to_torch.py" mlp.onnx x.pt
else
  echo "note: python3-torch missing: launch/to_torch.py not checked"
fi
finish
