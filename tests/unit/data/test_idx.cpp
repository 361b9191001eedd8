// IDX (MNIST-style) loading: plain and .gz files, generated in a temp folder,
// bad headers and lengths; and the real Fashion-MNIST files when installed.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/unit/data/test_data_util.h"

namespace lockstep::datatest {
namespace {

class DataIdx : public ::testing::Test {
 protected:
  // 5 images of 3 x 2 bytes (value 10 * i + k) and labels i % 3.
  std::string images_bytes(uint32_t n = 5) {
    std::string data;
    for (uint32_t i = 0; i < n; ++i)
      for (int k = 0; k < 6; ++k) data += static_cast<char>(10 * i + k);
    return idx_bytes(0x08, {n, 3, 2}, data);
  }
  std::string labels_bytes(uint32_t n = 5) {
    std::string data;
    for (uint32_t i = 0; i < n; ++i) data += static_cast<char>(i % 3);
    return idx_bytes(0x08, {n}, data);
  }
  std::string spec(const std::string& images, const std::string& labels, const std::string& extra = "") {
    return "idx { images: '" + images + "' labels: '" + labels + "' " + extra + " }";
  }
  std::string good_spec(bool gz) {
    const std::string ext = gz ? ".gz" : "";
    return spec(dir_.write("img" + ext, images_bytes(), gz), dir_.write("lab" + ext, labels_bytes(), gz));
  }
  TempDir dir_;
};

TEST_F(DataIdx, LoadsPlainAndGzipFiles) {
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gz" : "plain");
    const Dataset d = load(good_spec(gz));
    EXPECT_EQ(d.num_samples, 5);
    EXPECT_EQ(d.sample_shape, (Shape{3, 2, 1}));
    ASSERT_EQ(d.features.size(), 30u);
    EXPECT_EQ(d.features[0], 0);
    EXPECT_EQ(d.features[29], 45);
    EXPECT_EQ(d.labels, (std::vector<float>{0, 1, 2, 0, 1}));
    EXPECT_EQ(d.num_classes, 3);
    EXPECT_EQ(d.label_kind, LabelKind::kClassIndex);
  }
}

TEST_F(DataIdx, FloatImagesAndClassesOption) {
  std::string data;
  for (float v : {1.5f, -2.0f, 0.25f, 8.0f}) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    data += be32(bits);
  }
  const std::string images = dir_.write("f.idx", idx_bytes(0x0D, {2, 2}, data));
  const std::string labels = dir_.write("l.idx", idx_bytes(0x08, {2}, std::string("\1\0", 2)));
  const Dataset d = load(spec(images, labels, "classes: 10"));
  EXPECT_EQ(d.sample_shape, Shape{2});
  EXPECT_EQ(d.features, (std::vector<float>{1.5f, -2, 0.25f, 8}));
  EXPECT_EQ(d.num_classes, 10);
}

TEST_F(DataIdx, ScaleAndShiftAreAppliedWhileConvertingWithTheSameBits) {
  // Bytes go through a table, floats through the arithmetic; both must give
  // exactly what load_dataset computes for any other source:
  // float(x * double(scale) + double(shift)). Labels are never scaled.
  const float scale = 0.00392156863f, shift = -0.4242f;
  auto expected = [&](float x) {
    return static_cast<float>(static_cast<double>(x) * static_cast<double>(scale) + static_cast<double>(shift));
  };
  std::string bytes;
  for (int v = 0; v < 256; ++v) bytes += static_cast<char>(v);
  const std::string labels256 = dir_.write("l256", idx_bytes(0x08, {256}, std::string(256, '\1')));
  const std::string affine = " scale: 0.00392156863 shift: -0.4242";
  const Dataset d = load(spec(dir_.write("all", idx_bytes(0x08, {256, 1}, bytes)), labels256) + affine);
  ASSERT_EQ(d.features.size(), 256u);
  for (int v = 0; v < 256; ++v) {
    const float want = expected(static_cast<float>(v));
    EXPECT_EQ(std::memcmp(&d.features[v], &want, 4), 0) << "byte " << v << ": " << d.features[v] << " vs " << want;
  }
  EXPECT_EQ(d.labels[0], 1.0f);

  std::string floats;
  const float values[] = {1.5f, -2.0f, 0.25f, 8.0f, 3.14159f, -1e-3f};
  for (float v : values) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    floats += be32(b);
  }
  const std::string labels6 = dir_.write("l6", idx_bytes(0x08, {6}, std::string(6, '\0')));
  const Dataset f = load(spec(dir_.write("f6", idx_bytes(0x0D, {6, 1}, floats)), labels6) + affine);
  ASSERT_EQ(f.features.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    const float want = expected(values[i]);
    EXPECT_EQ(std::memcmp(&f.features[i], &want, 4), 0) << values[i];
  }
}

TEST_F(DataIdx, ShardsAndLimitReadOnlyTheirPart) {
  for (bool gz : {false, true}) {
    for (int parts = 1; parts <= 4; ++parts) {
      expect_shards_cover(good_spec(gz), parts);
      expect_shards_cover(good_spec(gz) + " limit: 4", parts);
    }
  }
}

TEST_F(DataIdx, BadFiles) {
  const std::string labels = dir_.write("lab", labels_bytes());
  const std::string images = dir_.write("img", images_bytes());
  auto expect_images_error = [&](const std::string& bytes, bool gz, const std::string& what) {
    const std::string bad = dir_.write(gz ? "bad.gz" : "bad", bytes, gz);
    expect_input_error([&] { load(spec(bad, labels)); }, bad, what);
  };
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gz" : "plain");
    std::string magic = images_bytes();
    magic[2] = 0x42;
    expect_images_error(magic, gz, "not an IDX file: bad magic number 0x00004203");
    expect_images_error("", gz, "not an IDX file: it is empty");
    expect_images_error(images_bytes().substr(0, 10), gz, "truncated header");
    expect_images_error(images_bytes().substr(0, images_bytes().size() - 1), gz, "truncated");
    expect_images_error(images_bytes() + "x", gz, gz ? "more data than the header declares" : "the file has 31");
    // A header claiming two billion images must fail before allocating them.
    expect_images_error(idx_bytes(0x08, {2000000000u, 28, 28}, std::string(100, '\0')), gz, "truncated");
  }
  // A .gz file cut anywhere in its 8-byte trailer (CRC and size): every
  // byte of the data is there, but the CRC was never checked.
  std::ifstream in(dir_.write("whole.gz", images_bytes(), true), std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(whole.size(), 18u) << "a gzip member: 10-byte header, data, 8-byte trailer";
  for (size_t cut = 1; cut <= 8; ++cut) {
    SCOPED_TRACE("cut " + std::to_string(cut));
    const std::string bad = dir_.write("cut.gz", whole.substr(0, whole.size() - cut));
    expect_input_error([&] { load(spec(bad, labels)); }, bad, "truncated: the gzip stream ends before its trailer");
  }
  expect_input_error([&] { load(spec(images, dir_.write("lab4", labels_bytes(4)))); }, "lab4", "4 labels for 5 images");
  expect_input_error([&] { load(spec(images, images)); }, images, "labels must be one-dimensional");
  expect_input_error([&] { load(spec(images, labels, "classes: 2")); }, labels, "label 2 out of range [0, 2)");
  expect_input_error([&] { load(spec(dir_.path("none.gz"), labels)); }, "none.gz", "cannot open: No such file");
  expect_input_error([&] { load(spec("", labels)); }, "data.idx.images", "no file given");
  expect_input_error([&] { load(spec(dir_.write("e", images_bytes(0)), dir_.write("le", labels_bytes(0)))); }, "/e",
                     "no samples");
}

// The real data set from the dataset-fashion-mnist package; prints load times.
TEST(DataIdxFashionMnist, LoadsTheRealFiles) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  if (!std::filesystem::exists(dir + "train-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST not installed";
  for (const std::string split : {"train", "t10k"}) {
    const std::string spec = "idx { images: '" + dir + split + "-images-idx3-ubyte.gz' labels: '" + dir + split +
                             "-labels-idx1-ubyte.gz' } scale: 0.00392156863";
    const auto start = std::chrono::steady_clock::now();
    const Dataset d = load(spec);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int64_t n = split == "train" ? 60000 : 10000;
    EXPECT_EQ(d.num_samples, n);
    EXPECT_EQ(d.sample_shape, (Shape{28, 28, 1}));
    EXPECT_EQ(d.num_classes, 10);
    std::vector<int> per_class(10);
    for (float label : d.labels) ++per_class[static_cast<int>(label)];
    for (int count : per_class) EXPECT_EQ(count, n / 10);  // the set is balanced
    EXPECT_EQ(*std::min_element(d.features.begin(), d.features.end()), 0.0f);
    EXPECT_EQ(*std::max_element(d.features.begin(), d.features.end()), 1.0f);
    std::cout << "[ measure  ] Fashion-MNIST " << split << " (" << n << " images, .gz): " << seconds * 1e3 << " ms\n";
  }
  // A LOCAL shard converts only its part and matches the same rows of the whole.
  const std::string train = "idx { images: '" + dir + "train-images-idx3-ubyte.gz' labels: '" + dir +
                            "train-labels-idx1-ubyte.gz' } limit: 3000";
  const Dataset whole = load(train);
  const Dataset part = load(train + " shard_mode: LOCAL", {1, 3});
  ASSERT_EQ(part.num_samples, 1000);
  EXPECT_TRUE(std::equal(part.features.begin(), part.features.end(), whole.features.begin() + 1000 * 784));
  EXPECT_TRUE(std::equal(part.labels.begin(), part.labels.end(), whole.labels.begin() + 1000));
}

}  // namespace
}  // namespace lockstep::datatest
