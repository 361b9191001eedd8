// NumPy .npy loading: dtypes, shapes, header versions, label kinds, and bad
// headers and lengths. Files are written byte by byte as numpy writes them.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/unit/data/test_data_util.h"

namespace lockstep::datatest {
namespace {

std::string dict(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

class DataNpy : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& descr, const std::string& shape,
                    const std::string& data, int version = 1) {
    return dir_.write(name, npy_bytes(dict(descr, shape), data, version));
  }
  // Features [4, 3] float32 (values 0..11) and labels [4] int64 (i % 2).
  std::string features() {
    return write("x.npy", "<f4", "(4, 3)", raw(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  }
  std::string labels() { return write("y.npy", "<i8", "(4,)", raw(std::vector<int64_t>{0, 1, 0, 1})); }
  std::string spec(const std::string& x, const std::string& y, const std::string& extra = "") {
    return "npy { features: '" + x + "' labels: '" + y + "' " + extra + " }";
  }
  TempDir dir_;
};

TEST_F(DataNpy, LoadsFloatFeaturesAndIntegerClasses) {
  const Dataset d = load(spec(features(), labels()));
  EXPECT_EQ(d.num_samples, 4);
  EXPECT_EQ(d.sample_shape, Shape{3});
  EXPECT_EQ(d.features[11], 11);
  EXPECT_EQ(d.labels, (std::vector<float>{0, 1, 0, 1}));
  EXPECT_EQ(d.label_kind, LabelKind::kClassIndex);
  EXPECT_EQ(d.num_classes, 2);
}

TEST_F(DataNpy, DtypesShapesAndVersions) {
  const std::string y = labels();
  struct Case {
    std::string descr, shape, data;
    Shape sample;
    int version;
  };
  const std::vector<Case> cases = {
      {"<f8", "(4, 1)", raw(std::vector<double>{0, 1, 2, 3}), {1}, 1},
      {"|u1", "(4, 2, 1)", raw(std::vector<uint8_t>{0, 1, 2, 3, 4, 5, 6, 255}), {2, 1}, 1},
      {"<i4", "(4,)", raw(std::vector<int32_t>{0, -1, 2, 3}), {1}, 2},
      {"|b1", "(4,)", raw(std::vector<uint8_t>{0, 1, 1, 0}), {1}, 1},
      {">f4", "(4,)", std::string("\x3f\x80\0\0\x40\0\0\0\xc0\x40\0\0\0\0\0\0", 16), {1}, 3},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.descr + " " + c.shape);
    const Dataset d = load(spec(write("x.npy", c.descr, c.shape, c.data, c.version), y));
    EXPECT_EQ(d.sample_shape, c.sample);
    EXPECT_EQ(d.num_samples, 4);
    if (c.descr == "|u1") {
      EXPECT_EQ(d.features.back(), 255);
    } else if (c.descr == "<i4") {
      EXPECT_EQ(d.features[1], -1);
    } else if (c.descr == ">f4") {
      EXPECT_EQ(d.features, (std::vector<float>{1, 2, -3, 0}));
    }
  }
}

TEST_F(DataNpy, LabelKinds) {
  const std::string x = features();
  // Whole float labels are class indices.
  Dataset d = load(spec(x, write("y.npy", "<f4", "(4,)", raw(std::vector<float>{2, 0, 1, 2}))));
  EXPECT_EQ(d.label_kind, LabelKind::kClassIndex);
  EXPECT_EQ(d.num_classes, 3);
  // Rows of 0/1 with a single 1 are one-hot.
  d = load(spec(x, write("y.npy", "<f4", "(4, 3)", raw(std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0}))));
  EXPECT_EQ(d.label_kind, LabelKind::kOneHot);
  EXPECT_EQ(d.label_width, 3);
  EXPECT_EQ(d.num_classes, 3);
  // Anything else two-dimensional is a regression target...
  const std::string soft = write("y.npy", "<f4", "(4, 2)", raw(std::vector<float>{0.9f, 0.1f, 0, 1, 1, 0, 0.5f, 0.5f}));
  d = load(spec(x, soft));
  EXPECT_EQ(d.label_kind, LabelKind::kValue);
  EXPECT_EQ(d.num_classes, 0);
  // ...unless `classes` says these are class scores.
  d = load(spec(x, soft, "classes: 2"));
  EXPECT_EQ(d.label_kind, LabelKind::kOneHot);
  expect_input_error([&] { load(spec(x, soft, "classes: 3")); }, "data.npy.classes", "labels have 2 columns");
}

TEST_F(DataNpy, BadLabels) {
  const std::string x = features();
  auto expect_error = [&](const std::string& descr, const std::string& shape, const std::string& data,
                          const std::string& what) {
    const std::string y = write("bad_y.npy", descr, shape, data);
    expect_input_error([&] { load(spec(x, y)); }, "bad_y.npy", what);
  };
  expect_error("<f4", "(4,)", raw(std::vector<float>{0, 1.5f, 1, 0}), "label 1.5 of sample 1 is not a class index");
  expect_error("<i4", "(4,)", raw(std::vector<int32_t>{0, -1, 1, 0}), "label -1 of sample 1 is not a class index");
  expect_error("<i8", "(3,)", raw(std::vector<int64_t>{0, 1, 0}), "3 labels for 4 samples");
  expect_error("<f4", "(4, 1, 1)", raw(std::vector<float>(4)), "labels must be [N] or [N, K]");
  expect_input_error([&] { load(spec(x, labels(), "classes: 1")); }, "y.npy", "label 1 out of range [0, 1)");
}

TEST_F(DataNpy, NanInFeaturesIsAnError) {
  const std::string x = write("x.npy", "<f4", "(4,)", raw(std::vector<float>{0, 1, NAN, 3}));
  expect_input_error([&] { load(spec(x, labels())); }, "x.npy", "NaN in feature 0 of sample 2");
}

TEST_F(DataNpy, BadFiles) {
  const std::string y = labels();
  const std::string data = raw(std::vector<float>(12));
  auto expect_error = [&](const std::string& bytes, const std::string& what) {
    const std::string x = dir_.write("bad.npy", bytes);
    expect_input_error([&] { load(spec(x, y)); }, "bad.npy", what);
  };
  expect_error("", "not a .npy file");
  expect_error("PK\3\4 a zip file, perhaps an .npz", "not a .npy file");
  std::string version = npy_bytes(dict("<f4", "(4, 3)"), data);
  version[6] = 4;
  expect_error(version, "unsupported .npy format version 4.0");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (4, 3), }", data), "fortran_order is True");
  expect_error(npy_bytes(dict("<c8", "(4, 3)"), data), "dtype '<c8' is not supported");
  expect_error(npy_bytes(dict("|f4", "(4, 3)"), data), "dtype '|f4' is not supported");
  expect_error(npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", data), "structured");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, }", data), "lacks");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, x), }", data), "expected a dimension");
  expect_error(npy_bytes("{'descr': '<f4, 'fortran_order': False, }", data), "bad .npy header");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), 'x': 1}", data),
               "unexpected key 'x'");
  expect_error(npy_bytes(dict("<f4", "()"), raw(std::vector<float>{1})), "a scalar array");
  expect_error(npy_bytes(dict("<f4", "(4, 3)"), data.substr(4)),
               "truncated: the header declares shape [4, 3] (48 bytes");
  expect_error(npy_bytes(dict("<f4", "(4, 3)"), data + "xx"), "the file has 50");
  // Claims of huge arrays fail before anything is allocated.
  expect_error(npy_bytes(dict("<f4", "(4000000000, 1000000000)"), data), "truncated");
  expect_error(npy_bytes(dict("<f4", "(99999999999999999999999, 3)"), data), "dimension too large");
  std::string long_header = npy_bytes(dict("<f4", "(4, 3)"), data);
  long_header[8] = '\xff';
  long_header[9] = '\xff';
  expect_error(long_header, "does not fit the file");
  expect_input_error([&] { load(spec(dir_.path("none.npy"), y)); }, "none.npy", "cannot open: No such file");
  expect_input_error([&] { load(spec(write("x0.npy", "<f4", "(0, 3)", ""), write("y0.npy", "<i8", "(0,)", ""))); },
                     "x0.npy", "no samples");
}

TEST_F(DataNpy, ShardsAndLimitReadOnlyTheirPart) {
  std::vector<float> x(7 * 2);
  std::vector<int32_t> y(7);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int32_t>(i % 4);
  const std::string s = spec(write("x.npy", "<f4", "(7, 2)", raw(x)), write("y.npy", "<i4", "(7,)", raw(y)));
  for (int parts = 1; parts <= 4; ++parts) {
    expect_shards_cover(s, parts);
    expect_shards_cover(s + " limit: 5", parts);
  }
}

}  // namespace
}  // namespace lockstep::datatest
