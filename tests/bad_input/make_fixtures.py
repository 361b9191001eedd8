#!/usr/bin/env python3
"""Writes the bad-input suite's inputs into the current folder: one tiny
model in text and JSON, small good data files (CSV, IDX, IDX.gz, NPY), and
the damaged variants the cases in cases.tsv refer to. Deterministic; takes
well under a second (no numpy: only the standard library)."""
import gzip
import json
import struct
import zipfile

# ---- configs: one tiny model, each data source ----
COMMON = 'batch_size: 4\nepochs: 1\nrun_dir: "run"\nverbose: 0\nthreads: 1\nseed: 3\n'
MLP = ('model {\n  input_shape: 3\n  layers { dense { units: 4 activation: "relu" } }\n'
       '  layers { dense { units: 2 activation: "softmax" } }\n}\n')


def write(name, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(name, mode) as f:
        f.write(data)


write("mlp.pbtxt", MLP + 'data { csv { path: "good.csv" } }\n' + COMMON)
write("syn.pbtxt", MLP.replace("input_shape: 3", "input_shape: 5")
      + 'data { synthetic { samples: 32 features: 5 classes: 2 } }\n' + COMMON)
write("other_model.pbtxt", MLP.replace("input_shape: 3", "input_shape: 5").replace("units: 4", "units: 6")
      + 'data { synthetic { samples: 32 features: 5 classes: 2 } }\n' + COMMON)
write("cnn.pbtxt", 'model {\n  input_shape: [6, 6, 1]\n  layers { conv2d { filters: 2 kernel_size: 3 } }\n'
      '  layers { flatten {} }\n  layers { dense { units: 2 activation: "softmax" } }\n}\n'
      'data { synthetic { samples: 16 features: 36 classes: 2 } }\n' + COMMON)
write("idx.pbtxt", 'model {\n  input_shape: [4, 4, 1]\n  layers { flatten {} }\n'
      '  layers { dense { units: 3 activation: "softmax" } }\n}\n'
      'data { idx { images: "img.idx" labels: "lbl.idx" } }\n' + COMMON)
write("npy.pbtxt", MLP + 'data { npy { features: "x.npy" labels: "y.npy" } }\n' + COMMON)
write("mlp.json", json.dumps({
    "model": {"input_shape": [3], "layers": [{"dense": {"units": 4, "activation": "relu"}},
                                             {"dense": {"units": 2, "activation": "softmax"}}]},
    "data": {"csv": {"path": "good.csv"}}, "batch_size": 4, "epochs": 1, "run_dir": "run",
    "verbose": 0, "threads": 1}, indent=1))

# ---- CSV ----
rows = ["%d,%d,%d,%d" % (i, i % 5, (3 * i) % 7, i % 2) for i in range(16)]
write("good.csv", "a,b,c,label\n" + "\n".join(rows) + "\n")
write("header_only.csv", "a,b,c,label\n")
write("empty.csv", "")
write("ragged.csv", "a,b,c,label\n1,2,3,0\n4,5,1\n")
write("text_field.csv", "1,2,3,0\n4,x,6,1\n")
write("nan.csv", "1,2,3,0\n4,nan,6,1\n")
write("inf.csv", "1,2,3,0\n4,inf,6,1\n")
write("empty_field.csv", "1,2,3,0\n4,,6,1\n")
write("huge_number.csv", "1,2,3,0\n4,1e39,6,1\n")
write("label7.csv", "1,2,3,0\n4,5,6,7\n")
write("label_neg.csv", "1,2,3,0\n4,5,6,-1\n")
write("label_frac.csv", "1,2,3,0\n4,5,6,0.5\n")
write("three_classes.csv", "1,2,3,0\n4,5,6,2\n")
write("nul.csv", "1,2,3,0\n4,5\x00,6,1\n")
write("semicolon.csv", "a;b;c;label\n1;2;3;0\n4;5;6;1\n")
write("tab.csv", "a\tb\tc\tlabel\n1\t2\t3\t0\n4\t5\t6\t1\n")
write("label_1e9.csv", "1,2,3,0\n4,5,6,1e9\n")
# Random bytes (fixed seed, no numpy): blamed on the file, not a field.
state, garbage = 17, bytearray()
for _ in range(4096):
    state = (state * 1103515245 + 12345) & 0x7FFFFFFF
    garbage.append(state >> 16 & 0xFF)
write("garbage.csv", bytes(garbage))

# ---- IDX (big-endian: 0, 0, type, dims, then each dim as uint32) ----
def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


images = bytes((7 * i) % 256 for i in range(12 * 16))
labels = bytes(i % 3 for i in range(12))
write("img.idx", idx(0x08, [12, 4, 4], images))
write("lbl.idx", idx(0x08, [12], labels))
write("img.idx.gz", gzip.compress(idx(0x08, [12, 4, 4], images), mtime=0))
write("lbl.idx.gz", gzip.compress(idx(0x08, [12], labels), mtime=0))
write("bad_magic.idx", b"\x12\x34" + idx(0x08, [12, 4, 4], images)[2:])
write("bad_type.idx", idx(0x07, [12, 4, 4], images))
write("truncated.idx", idx(0x08, [12, 4, 4], images)[:100])
write("short_header.idx", idx(0x08, [12, 4, 4], images)[:9])
write("extra.idx", idx(0x08, [12, 4, 4], images + b"\x00" * 16))
write("dims5x5.idx", idx(0x08, [12, 5, 5], bytes(12 * 25)))
write("lbl10.idx", idx(0x08, [10], labels[:10]))
write("lbl2d.idx", idx(0x08, [12, 1], labels))
write("lbl_big.idx", idx(0x08, [12], bytes([0] * 11 + [200])))
write("empty.idx", b"")
whole_gz = gzip.compress(idx(0x08, [12, 4, 4], images), mtime=0)
write("no_trailer.idx.gz", whole_gz[:-8])          # cut before CRC and size
write("bad_crc.idx.gz", whole_gz[:-8] + bytes(b ^ 0xFF for b in whole_gz[-8:-4]) + whole_gz[-4:])
write("half.idx.gz", whole_gz[: len(whole_gz) // 2])
write("fake.idx.gz", idx(0x08, [12, 4, 4], images))  # named .gz, not gzip: read as it is

# ---- NPY (version 1.0; header padded to 64 bytes) ----
def npy(descr, shape, payload, fortran=False, magic=b"\x93NUMPY"):
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_text)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return magic + b"\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


xs = struct.pack("<48f", *[float(i % 7) for i in range(48)])
ys = struct.pack("<16q", *[i % 2 for i in range(16)])
write("x.npy", npy("<f4", [16, 3], xs))
write("y.npy", npy("<i8", [16], ys))
write("npy_magic.npy", npy("<f4", [16, 3], xs, magic=b"\x93NUMPX"))
write("npy_complex.npy", npy("<c8", [8, 3], xs))
write("npy_str.npy", npy("<U3", [16], xs))
write("npy_fortran.npy", npy("<f4", [16, 3], xs, fortran=True))
write("npy_truncated.npy", npy("<f4", [16, 3], xs)[:-20])
write("npy_shape4.npy", npy("<f4", [12, 4], xs))
write("npy_y10.npy", npy("<i8", [10], ys[:80]))
write("npy_scalar.npy", npy("<f4", [], xs[:4]))
write("npy_version9.npy", npy("<f4", [16, 3], xs).replace(b"\x01\x00", b"\x09\x00", 1))
write("npy_header_len.npy", npy("<f4", [16, 3], xs)[:8] + struct.pack("<H", 60000) + npy("<f4", [16, 3], xs)[10:])
write("npy_nan.npy", npy("<f4", [16, 3], struct.pack("<f", float("nan")) + xs[4:]))
write("npy_label_frac.npy", npy("<f4", [16], struct.pack("<16f", *[0.5] * 16)))
write("npy_empty.npy", b"")
write("npy_object.npy", npy("|O", [16, 3], b""))
write("npy_half.npy", npy("<f2", [16, 3], bytes(96)))
write("npy_no_columns.npy", npy("<f4", [16, 0], b""))
write("npy_f64_overflow.npy", npy("<f8", [16, 3], struct.pack("<48d", *[1e300] * 48)))
write("npy_label_negative.npy", npy("<i8", [16], struct.pack("<16q", *[-1] * 16)))
write("npy_label_huge.npy", npy("<i8", [16], struct.pack("<16q", *[1 << 40] * 16)))
with zipfile.ZipFile("arrays.npz", "w") as archive:  # what np.savez writes
    archive.writestr("x.npy", npy("<f4", [16, 3], xs))


# ---- checkpoints: damaged copies of a good one (given as argv[1]) ----
def damaged_checkpoints(good_path):
    data = open(good_path, "rb").read()
    write("ck.pb", data)
    write("ck_empty.pb", b"")
    write("ck_magic_only.pb", data[:8])
    write("ck_half.pb", data[: len(data) // 2])
    write("ck_last_byte_cut.pb", data[:-1])
    write("ck_extra_byte.pb", data + b"\x00")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    write("ck_flip_middle.pb", bytes(flipped))
    flipped = bytearray(data)
    flipped[12] ^= 0x01                                # inside the header record
    write("ck_flip_header.pb", bytes(flipped))
    write("ck_wrong_magic.pb", b"LKSTCKPU" + data[8:])


if __name__ == "__main__":
    import sys
    if len(sys.argv) > 1:
        damaged_checkpoints(sys.argv[1])
