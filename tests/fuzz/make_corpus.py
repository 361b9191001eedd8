#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/NAME/.

    /usr/bin/python3 tests/fuzz/make_corpus.py build/bin/trainer

Needs Debian's python3-numpy, python3-protobuf and protoc (launch/setup.sh
installs them); the trainer writes the checkpoint seeds. The corpora are
committed: run this again only when a format changes. Option bytes in front
of the data seeds are described at the top of each fuzz_*.cpp.
"""
import glob
import gzip
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def configs():
    return sorted(glob.glob(os.path.join(ROOT, "launch/configs/*.pbtxt")) +
                  glob.glob(os.path.join(ROOT, "tests/e2e/configs/*.pbtxt")))


def config_seeds(tmp):
    for path in configs():
        shutil.copy(path, os.path.join(CORPUS, "config_text", os.path.basename(path)))
    # JSON: the same configs through protobuf's own JSON printer.
    subprocess.run(["protoc", "--proto_path=" + os.path.join(ROOT, "proto"), "--python_out=" + tmp] +
                   glob.glob(os.path.join(ROOT, "proto/*.proto")), check=True)
    sys.path.insert(0, tmp)
    from google.protobuf import json_format, text_format
    import train_pb2
    for path in configs():
        config = text_format.Parse(open(path).read(), train_pb2.TrainConfig())
        name = os.path.basename(path).replace(".pbtxt", ".json")
        put("config_json", name, json_format.MessageToJson(config, preserving_proto_field_name=True))
        put("config_json", "camel_" + name, json_format.MessageToJson(config))
    # Dictionaries (libFuzzer -dict): the schema's names and the strings the
    # layers know, so mutations can form fields the seeds do not use.
    words = set()
    def walk(descriptor, seen):
        if descriptor.full_name in seen:
            return
        seen.add(descriptor.full_name)
        for field in descriptor.fields:
            words.add(("name", field.name))
            words.add(("json", field.json_name))
            if field.enum_type:
                words.update(("enum", v.name) for v in field.enum_type.values)
            if field.message_type:
                walk(field.message_type, seen)
    walk(train_pb2.TrainConfig.DESCRIPTOR, set())
    values = ["relu", "tanh", "sigmoid", "softmax", "linear", "elu", "leaky_relu", "gelu", "same", "valid",
              "glorot_uniform", "he_normal", "uniform", "zeros", "ones", "sparse_categorical_crossentropy",
              "categorical_crossentropy", "binary_crossentropy", "mean_squared_error"]
    text = sorted({w for k, w in words if k != "json"}) + ["{", "}", ":", "[", "]", "#", "true", "false", "-1",
                                                             "2147483647", "1e39", "nan", "inf"]
    json = sorted({'"%s":' % w for k, w in words if k != "enum"} | {'"%s"' % w for k, w in words if k == "enum"})
    json += ["{", "}", "[", "]", "null", "true", "false", '"NaN"', '"Infinity"', "2147483648", "1e39"]
    quote = lambda w: '"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"'
    with open(os.path.join(HERE, "config_text.dict"), "w") as f:
        f.write("# libFuzzer dictionary, written by make_corpus.py\n")
        f.writelines(quote(w) + "\n" for w in text + ['"%s"' % v for v in values])
    with open(os.path.join(HERE, "config_json.dict"), "w") as f:
        f.write("# libFuzzer dictionary, written by make_corpus.py\n")
        f.writelines(quote(w) + "\n" for w in json + ['"%s"' % v for v in values])
    shutil.copy(os.path.join(HERE, "config_text.dict"), os.path.join(HERE, "set_override.dict"))


def set_seeds():
    # byte 0 bit 0: base config (0 seed_mlp, 1 fashion_cnn); then one --set per line.
    seeds = {
        "epochs": (0, "epochs=5"),
        "lr": (0, "optimizer.sgd.learning_rate=0.01\nbatch_size=16"),
        "dropout": (0, "model.layers[3].dropout.rate=0.25"),
        "dropout_dot": (0, "model.layers.3.dropout.rate=0.25"),
        "input_shape": (1, "model.input_shape=28,28,1"),
        "optimizer_msg": (0, "optimizer={sgd{momentum:0.9}}"),
        "adam": (1, "optimizer={adam{learning_rate:0.01}}\nlr_schedule.cosine.decay_steps=100"),
        "append_layer": (0, "model.layers[11]={dense{units:2}}"),
        "replace_layers": (0, "model.layers={dense{units:2 activation:\"softmax\"}}\nmodel.input_shape=14"),
        "conv": (1, "model.layers[0].conv2d.kernel_size=5,5\nmodel.layers[0].conv2d.strides=2"),
        "padding": (1, "model.layers[0].conv2d.padding=valid\nmodel.layers[0].conv2d.dilation_rate=2"),
        "data_csv": (0, "data={csv{path:\"d.csv\" label_encoding:ONE_HOT classes:2}}"),
        "enum": (0, "data.shard_mode=LOCAL\nshuffle=false"),
        "bool": (1, "model.layers[1].batch_normalization.synchronized=false\ndistributed.sync_batch_norm=0"),
        "checkpoint": (0, "checkpoint.every_steps=10\ncheckpoint.keep=0\nseed=18446744073709551615"),
        "validation": (0, "validation_split=0.5\nvalidation_data.synthetic.samples=10"),
    }
    for name, (base, text) in seeds.items():
        put("set_override", name, bytes([base]) + text.encode())


def csv_seeds():
    # byte 0: header | encoding << 2 | delimiter << 4 | shards << 6;
    # byte 1: classes | label_column << 4; byte 2: limit | split << 7.
    def opts(header=0, encoding=0, delim=0, shards=0, classes=0, label_column=-1, limit=0, split=0):
        return bytes([header | encoding << 2 | delim << 4 | shards << 6, classes | (label_column & 15) << 4,
                      limit | split << 7])
    put("csv", "header", opts() + b"a,b,c,label\n1,2,3,0\n4,5,6,1\n7,8,9,0\n")
    put("csv", "no_header", opts(header=2, split=1) + b"1,2,3,0\n4,5,6,1\n7,8,9,0\n1,1,1,1\n")
    put("csv", "crlf_bom", opts(classes=3) + b"\xef\xbb\xbfx,y,label\r\n0.5,-1e-3,2\r\n\r\n+1.5,2E5,0\r\n")
    put("csv", "one_hot", opts(encoding=1, classes=3, label_column=0) + b"1,0,0,0.1,0.2\n0,1,0,0.3,0.4\n0,0,1,5,6\n")
    put("csv", "value", opts(encoding=2, classes=2, label_column=-2) + b"1.0,2.0,0.5,0.25\n3,4,1,2\n")
    put("csv", "value_semicolon", opts(encoding=2, delim=1, classes=2, label_column=-2) + b"1.0;2.0;0.5;0.25\n3;4;1;2\n")
    put("csv", "tab_sharded", opts(delim=2, shards=3) + b"1\t2\t0\n3\t4\t1\n5\t6\t2\n7\t8\t1\n9\t10\t0\n")
    put("csv", "space_limit", opts(delim=3, shards=1, limit=3) + b" 1 2 0\n3 4 1\n5 6 2\n7 8 1\n")
    put("csv", "bad_row", opts() + b"a,b,label\n1,2,0\n3,x,1\n4,5\n")
    put("csv", "floats", opts(header=1) + b"f,label\n1e38,0\n3.4e38,1\n1e-45,0\n-0,1\n")


def idx_file(array, code):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(data)
    return out.getvalue()


def pair(b0, b1, first, second):
    return bytes([b0, b1]) + struct.pack("<H", len(first)) + first + second


def idx_seeds():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 4, 4), dtype=np.uint8)
    labels = np.array([0, 1, 2, 1, 0], dtype=np.uint8)
    img, lab = idx_file(images, 0x08), idx_file(labels, 0x08)
    put("idx", "plain", pair(0, 0, img, lab))
    put("idx", "gzip_flag", pair(3, 16, img, lab))  # the harness compresses both
    put("idx", "gz_files", pair(0, 0, gz(img), gz(lab)))  # real .gz bytes, mutated as they are
    put("idx", "sharded_limit", pair(1 << 2 | 4 << 4, 3, img, lab))
    put("idx", "float32", pair(2 << 2, 32, idx_file(rng.standard_normal((3, 2, 2, 2)).astype(np.float32), 0x0D),
                                idx_file(np.array([1, 0, 1], dtype=np.int32), 0x0C)))
    put("idx", "types", pair(0, 0, idx_file(rng.integers(-100, 100, (3, 3)).astype(np.int16), 0x0B),
                              idx_file(np.array([0, 1, 0], dtype=np.int8), 0x09)))
    put("idx", "float64", pair(1, 0, idx_file(rng.standard_normal((2, 3)), 0x0E),
                                idx_file(np.array([1, 1], dtype=np.uint8), 0x08)))


def npy(array):
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def npy_v2(array):
    out = io.BytesIO()
    np.lib.format.write_array(out, array, version=(2, 0), allow_pickle=False)
    return out.getvalue()


def npy_seeds():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3)).astype("<f4")
    put("npy", "f4_classes", pair(0, 0, npy(x), npy(np.array([0, 1, 2, 1], dtype="<i8"))))
    put("npy", "u8_images", pair(0, 16, npy(rng.integers(0, 256, (3, 2, 2, 1), dtype=np.uint8)),
                                  npy(np.array([1, 0, 1], dtype=np.uint8))))
    put("npy", "one_hot", pair(1 << 2, 3, npy(x.astype(">f8")), npy(np.eye(3, dtype="<f4")[[0, 1, 2, 0]])))
    put("npy", "value", pair(2 << 2 | 2 << 4, 0, npy(x), npy(rng.standard_normal((4, 2)).astype("<f4"))))
    put("npy", "v2_ints", pair(3 << 2, 32, npy_v2(rng.integers(-5, 5, (4, 2)).astype(">i2")),
                                npy_v2(np.array([0, 0, 1, 1], dtype="<u4"))))
    put("npy", "bool_u64", pair(0, 0, npy(rng.integers(0, 2, (2, 5)).astype(bool)),
                                 npy(np.array([3, 1], dtype="<u8"))))
    put("npy", "fortran", pair(0, 0, npy(np.asfortranarray(rng.standard_normal((3, 2)))),
                                npy(np.array([0, 1, 0], dtype="<i4"))))


def checkpoint_seeds(trainer, tmp):
    work = os.path.join(tmp, "ckpt")
    os.makedirs(work)
    with open(os.path.join(work, "d.csv"), "w") as f:
        f.write("1,2,3,0\n4,5,6,1\n7,8,9,0\n1,1,1,1\n")
    tiny = """model {
  input_shape: 3
  layers { dense { units: 2 } }
  layers { batch_normalization {} }
  layers { activation { activation: "softmax" } }
}
data { csv { path: "d.csv" } }
optimizer { %s }
epochs: 1
batch_size: 2
run_dir: "run_%s"
verbose: 0
"""
    cnn = """model {
  input_shape: [4, 4, 1]
  layers { conv2d { filters: 2 kernel_size: 3 padding: "same" } }
  layers { max_pooling2d {} }
  layers { flatten {} }
  layers { dense { units: 2 activation: "softmax" } }
}
data { synthetic { samples: 8 features: 16 classes: 2 } }
epochs: 1
batch_size: 4
run_dir: "run_cnn"
verbose: 0
"""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    runs = {}
    for kind in ("adam", "sgd"):
        with open(os.path.join(work, kind + ".pbtxt"), "w") as f:
            f.write(tiny % (kind + " {}", kind))
        runs[kind] = kind + ".pbtxt"
    with open(os.path.join(work, "cnn.pbtxt"), "w") as f:
        f.write(cnn)
    runs["cnn"] = "cnn.pbtxt"
    for kind, config in runs.items():
        subprocess.run([trainer, "train", config], cwd=work, env=env, check=True)
        put("checkpoint", "tiny_" + kind + ".pb", open(os.path.join(work, "run_" + kind, "final", "model.pb"), "rb").read())
    subprocess.run([trainer, "export", "run_adam/final/model.pb", "export.pb"], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    put("checkpoint", "exported.pb", open(os.path.join(work, "export.pb"), "rb").read())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py TRAINER")
    trainer = os.path.abspath(sys.argv[1])
    shutil.rmtree(CORPUS, ignore_errors=True)
    os.makedirs(os.path.join(CORPUS, "config_text"))
    with tempfile.TemporaryDirectory() as tmp:
        config_seeds(tmp)
        set_seeds()
        csv_seeds()
        idx_seeds()
        npy_seeds()
        checkpoint_seeds(trainer, tmp)


if __name__ == "__main__":
    main()
