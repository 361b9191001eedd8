// CSV loading: header detection, label columns and encodings, tolerated
// formatting, and every kind of bad input.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tests/unit/data/test_data_util.h"

namespace lockstep::datatest {
namespace {

class DataCsv : public ::testing::Test {
 protected:
  // Writes a CSV file and returns the spec text for it with extra fields.
  std::string csv(const std::string& contents, const std::string& extra = "") {
    path_ = dir_.write("data.csv", contents);
    return "csv { path: '" + path_ + "' " + extra + " }";
  }
  void expect_error(const std::string& contents, const std::string& extra, const std::string& where,
                    const std::string& what) {
    const std::string spec = csv(contents, extra);
    expect_input_error([&] { load(spec); }, where, what);
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(DataCsv, HeaderDetectedAndLastColumnIsTheLabel) {
  const Dataset d = load(csv("x1,x2,label\n1,2,0\n3.5,-4e1,2\n"));
  EXPECT_EQ(d.num_samples, 2);
  EXPECT_EQ(d.sample_shape, Shape{2});
  EXPECT_EQ(d.features, (std::vector<float>{1, 2, 3.5f, -40}));
  EXPECT_EQ(d.labels, (std::vector<float>{0, 2}));
  EXPECT_EQ(d.label_kind, LabelKind::kClassIndex);
  EXPECT_EQ(d.num_classes, 3);  // max label + 1
  EXPECT_EQ(d.source, path_);
}

TEST_F(DataCsv, NumericFirstLineIsDataUnderAuto) {
  const Dataset d = load(csv("1,2,1\n3,4,0\n"));
  EXPECT_EQ(d.num_samples, 2);
  EXPECT_EQ(d.features, (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(DataCsv, HeaderYesSkipsANumericFirstLine) {
  const Dataset d = load(csv("1,2,1\n3,4,0\n", "header: YES"));
  EXPECT_EQ(d.num_samples, 1);
  EXPECT_EQ(d.features, (std::vector<float>{3, 4}));
}

TEST_F(DataCsv, HeaderNoMakesATextFirstLineAnError) {
  expect_error("a,b,c\n1,2,0\n", "header: NO", "data.csv:1", "'a' is not a number (column 1)");
}

TEST_F(DataCsv, LabelColumnFirstOrCountedFromTheEnd) {
  Dataset d = load(csv("1,10,20\n0,30,40\n", "label_column: 0"));
  EXPECT_EQ(d.labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(d.features, (std::vector<float>{10, 20, 30, 40}));
  d = load(csv("10,1,20\n30,0,40\n", "label_column: -2"));
  EXPECT_EQ(d.labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(d.features, (std::vector<float>{10, 20, 30, 40}));
}

TEST_F(DataCsv, OneHotLabelsSpanClassesColumns) {
  const Dataset d =
      load(csv("f,a,b,c,g\n1,0,1,0,2\n3,1,0,0,4\n", "label_column: 1 label_encoding: ONE_HOT classes: 3"));
  EXPECT_EQ(d.label_kind, LabelKind::kOneHot);
  EXPECT_EQ(d.label_width, 3);
  EXPECT_EQ(d.num_classes, 3);
  EXPECT_EQ(d.labels, (std::vector<float>{0, 1, 0, 1, 0, 0}));
  EXPECT_EQ(d.features, (std::vector<float>{1, 2, 3, 4}));
  expect_error("1,0,1\n", "label_encoding: ONE_HOT", "data.csv.classes", "ONE_HOT labels need `classes`");
}

TEST_F(DataCsv, ValueLabelsForRegression) {
  Dataset d = load(csv("1,2,0.5\n3,4,-1.25\n", "label_encoding: VALUE"));
  EXPECT_EQ(d.label_kind, LabelKind::kValue);
  EXPECT_EQ(d.num_classes, 0);
  EXPECT_EQ(d.labels, (std::vector<float>{0.5f, -1.25f}));
  d = load(csv("1,2,0.5,7\n3,4,-1.25,8\n", "label_column: -2 label_encoding: VALUE classes: 2"));
  EXPECT_EQ(d.label_width, 2);
  EXPECT_EQ(d.labels, (std::vector<float>{0.5f, 7, -1.25f, 8}));
  EXPECT_EQ(d.sample_shape, Shape{2});
}

TEST_F(DataCsv, ToleratesSpacesCrLfBlankLinesSignsAndByteOrderMark) {
  const Dataset d = load(csv("\xEF\xBB\xBFx , y,label\r\n\r\n 1 ,\t+2,1 \r\n\n-3,4.,0\r\n\n"));
  EXPECT_EQ(d.num_samples, 2);
  EXPECT_EQ(d.features, (std::vector<float>{1, 2, -3, 4}));
  EXPECT_EQ(d.labels, (std::vector<float>{1, 0}));
}

TEST_F(DataCsv, IntegersGetTheBitsOfStrtof) {
  // Short integers take a fast path; it must agree with the general parser
  // bit for bit (sign of zero and leading zeros included) and leave longer
  // or decorated numbers to it.
  const std::vector<std::string> fields = {"0",       "-0",       "7",        "255",       "0000123", "1234567",
                                           "-999999", "12345678", "16777217", "+42",       "1e3",     "007.5",
                                           "-0000001", "9999999", "-16777217", "123456789"};
  std::string row;
  for (const std::string& f : fields) row += f + ",";
  const Dataset d = load(csv(row + "0\n", "header: NO label_column: -1"));
  ASSERT_EQ(d.features.size(), fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    const float want = std::strtof(fields[i].c_str(), nullptr);
    EXPECT_EQ(std::memcmp(&d.features[i], &want, sizeof want), 0)
        << fields[i] << ": " << d.features[i] << " vs strtof " << want;
  }
  // "-" alone, or a sign in the middle, is still not a number.
  expect_error("1,-,0\n", "header: NO", ":1", "'-' is not a number (column 2)");
  expect_error("1,1-2,0\n", "header: NO", ":1", "'1-2' is not a number (column 2)");
}

TEST_F(DataCsv, OtherDelimiters) {
  EXPECT_EQ(load(csv("1;2;1\n3;4;0", "delimiter: ';'")).features, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(load(csv("1\t2\t1\n3\t4\t0\n", "delimiter: '\\t'")).features, (std::vector<float>{1, 2, 3, 4}));
  expect_error("1,2\n", "delimiter: ';;'", "data.csv.delimiter", "must be one character");
}

TEST_F(DataCsv, WrongColumnCountNamesTheLine) {
  expect_error("a,b,c\n1,2,0\n1,2\n", "", "data.csv:3", "expected 3 columns (as in the header), found 2");
  expect_error("1,2,0\n\n1,2,0,5\n", "", "data.csv:3", "expected 3 columns (as in line 1), found 4");
}

TEST_F(DataCsv, BadNumbersNameLineAndColumn) {
  expect_error("a,b,c\n1,2,0\n1,abc,0\n", "", "data.csv:3", "'abc' is not a number (column 2 'b')");
  expect_error("1,2,0\n1,2x,0\n", "", "data.csv:2", "'2x' is not a number (column 2)");
  expect_error("1,2,0\n1,,0\n", "", "data.csv:2", "missing value (empty field) in column 2; set missing: \"mean\"");
  expect_error("1,2,0\nnan,2,0\n", "", "data.csv:2", "missing value 'nan' in column 1");
  expect_error("1,2,0\n1,-inf,0\n", "", "data.csv:2", "Inf in column 2");
  expect_error("1,2,0\n1,1e999,0\n", "", "data.csv:2", "'1e999' is too large for a float (column 2)");
  // Underflow is not an error: it rounds towards zero as in numpy.
  EXPECT_EQ(load(csv("1e-50,2,0\n")).features[0], 0.0f);
}

TEST_F(DataCsv, BadLabels) {
  expect_error("1,2,0\n1,2,1.5\n", "", "data.csv:2", "label '1.5' is not a class index");
  expect_error("1,2,0\n1,2,-1\n", "", "data.csv:2", "label '-1' is not a class index");
  expect_error("1,2,0\n1,2,7\n", "classes: 2", "data.csv:2", "label 7 out of range [0, 2)");
  // The file's first line decides the layout: the file is named, and the
  // setting it conflicts with.
  expect_error("1,2,0\n", "label_column: 3", "data.csv:1",
               "does not fit in the line's 3 columns (data.csv.label_column: 3)");
  expect_error("1,0,1\n", "label_encoding: ONE_HOT classes: 3", "data.csv:1", "does not fit");
  expect_error("\n1\n", "", "data.csv:2", "no feature columns besides the label in the line's 1 column");
}

TEST_F(DataCsv, BinaryFilesAreBlamedOnTheFile) {
  expect_error(std::string("1,2,0\n3,\0,1\n", 12), "", "data.csv:2", "not a CSV text file: control byte 0x00 at column 3");
  expect_error("\x89PNG\r\n\x1a\n", "", "data.csv:2", "not a CSV text file: control byte 0x1A at column 1");
  std::string random;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 4096; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    random += static_cast<char>(x & 0xFF);
  }
  expect_error(random, "", "data.csv:", "not a CSV text file");
}

TEST_F(DataCsv, LinesLongerThan64MiBAreRefused) {
  std::string line(size_t{64} << 20, '1');
  line += "1,0\n";
  expect_error("1,0\n" + line, "header: NO", "data.csv:2", "line longer than 64 MiB");
}

TEST_F(DataCsv, FileProblems) {
  expect_input_error([&] { load("csv { path: '" + dir_.path("missing.csv") + "' }"); }, "missing.csv",
                     "cannot open: No such file or directory");
  expect_input_error([&] { load("csv { path: '" + dir_.path("") + "' }"); }, dir_.path(""),
                     "cannot open: is a directory, not a regular file");
  // Refused before they are opened: a FIFO with no writer would block the
  // open forever, /dev/zero would be read until memory runs out.
  const std::string fifo = dir_.path("fifo.csv");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  expect_input_error([&] { load("csv { path: '" + fifo + "' }"); }, fifo, "is a FIFO (named pipe), not a regular file");
  expect_input_error([&] { load("csv { path: '/dev/zero' }"); }, "/dev/zero", "is a character device, not a regular file");
  expect_input_error([&] { load("csv { }"); }, "data.csv.path", "no file given");
  expect_error("", "", "data.csv", "no samples");
  expect_error("\n \n", "", "data.csv", "no samples");
  expect_error("a,b,label\n", "", "data.csv", "no samples");
}

// Not a test of speed (that would be flaky): prints the parse rate.
TEST_F(DataCsv, ParseRateIsPrinted) {
  std::string text = "f0,f1,f2,f3,f4,f5,f6,f7,f8,f9,f10,f11,f12,f13,label\n";
  char buf[32];
  for (int r = 0; r < 100000; ++r) {
    for (int c = 0; c < 14; ++c) {
      std::snprintf(buf, sizeof buf, "%.6f,", (r * 31 + c * 17) % 1000 / 7.0 - 50.0);
      text += buf;
    }
    text += std::to_string(r % 3) + "\n";
  }
  const std::string spec = csv(text);
  const auto start = std::chrono::steady_clock::now();
  const Dataset d = load(spec);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(d.num_samples, 100000);
  std::cout << "[ measure  ] CSV: " << text.size() / 1e6 << " MB in " << seconds * 1e3
            << " ms = " << text.size() / 1e6 / seconds << " MB/s (read + parse + validate)\n";
}

}  // namespace
}  // namespace lockstep::datatest
