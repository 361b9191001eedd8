// CSV files as a data scientist has them (issue 15 item 4): header
// detection both ways and its override, the label column by name, class
// labels that are names, missing values (an error, or the training means),
// the same classes and means in every LOCAL shard, and the load summary.
#include <cmath>
#include <string>
#include <vector>

#include "tests/unit/data/test_data_util.h"

namespace lockstep::datatest {
namespace {

class CsvColumns : public ::testing::Test {
 protected:
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

TEST_F(CsvColumns, HeaderOfNamesIsDetected) {
  const Dataset d = load(csv("sepal,petal,species\n1,2,0\n3,4,1\n"));
  EXPECT_EQ(d.num_samples, 2);
  EXPECT_EQ(d.header, "column names detected");
  // pandas writes an unnamed index column as an empty name.
  const Dataset indexed = load(csv(",sepal,species\n0,1,0\n1,3,1\n"));
  EXPECT_EQ(indexed.num_samples, 2);
  EXPECT_EQ(indexed.header, "column names detected");
  // A first line of nothing but empty fields is no header.
  expect_error(",,\n1,2,0\n", "", "data.csv:1", "missing value (empty field) in column 1");
}

TEST_F(CsvColumns, HeaderOfColumnIndicesIsDetected) {
  // pandas' to_csv of a frame without column names writes 0,1,...,n-1.
  const Dataset d = load(csv("0,1,2\n5,6,1\n7,8,0\n"));
  EXPECT_EQ(d.num_samples, 2);
  EXPECT_EQ(d.features, (std::vector<float>{5, 6, 7, 8}));
  EXPECT_EQ(d.header, "column indices 0..2 detected");
}

TEST_F(CsvColumns, NumbersThatAreNotTheColumnIndicesAreData) {
  for (const char* first : {"0,1,1\n", "1,2,0\n", "0,1,2.0\n", "2,1,0\n"}) {
    const Dataset d = load(csv(std::string(first) + "5,6,1\n"));
    EXPECT_EQ(d.num_samples, 2) << first;
    EXPECT_EQ(d.header, "none detected") << first;
  }
}

TEST_F(CsvColumns, ARowWithANameLabelIsDataNotAHeader) {
  const Dataset d = load(csv("5.1,3.5,setosa\n6.2,2.9,versicolor\n"));
  EXPECT_EQ(d.num_samples, 2);
  EXPECT_EQ(d.header, "none detected");
}

TEST_F(CsvColumns, HeaderYesAndNoOverrideDetection) {
  Dataset d = load(csv("0,1,2\n5,6,1\n", "header: NO"));
  EXPECT_EQ(d.num_samples, 2);
  EXPECT_EQ(d.header, "none (header: NO)");
  d = load(csv("1,2,1\n5,6,1\n", "header: YES"));
  EXPECT_EQ(d.num_samples, 1);
  EXPECT_EQ(d.header, "yes (header: YES)");
  expect_error("a,b,c\n1,2,0\n", "header: NO", "data.csv:1", "'a' is not a number (column 1)");
}

TEST_F(CsvColumns, LabelColumnByName) {
  Dataset d = load(csv("species,x,y\n1,10,20\n0,30,40\n", "label_column_name: 'species'"));
  EXPECT_EQ(d.labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(d.features, (std::vector<float>{10, 20, 30, 40}));
  // A quoted header name matches without its quotes; indices work as names.
  d = load(csv("\"x\",\"label\",\"y\"\n10,1,20\n", "label_column_name: 'label'"));
  EXPECT_EQ(d.labels, (std::vector<float>{1}));
  d = load(csv("0,1,2\n10,1,20\n", "label_column_name: '1'"));
  EXPECT_EQ(d.features, (std::vector<float>{10, 20}));
}

TEST_F(CsvColumns, LabelColumnNameErrors) {
  expect_error("a,b,c\n1,2,0\n", "label_column_name: 'target'", "data.csv.label_column_name",
               "no column 'target' in the header of " + dir_.path("data.csv") + " (a, b, c)");
  expect_error("1,2,0\n", "label_column_name: 'c'", "data.csv.label_column_name", "has no header line");
  expect_error("a,b,c\n1,2,0\n", "label_column_name: 'c' label_column: 0", "data.csv.label_column_name",
               "not both");
}

TEST_F(CsvColumns, NameLabelsAreClassesInSortedOrder) {
  const Dataset d = load(csv("x,y,species\n1,2,virginica\n3,4,setosa\n5,6,versicolor\n7,8,setosa\n"));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  EXPECT_EQ(d.labels, (std::vector<float>{2, 0, 1, 0}));
  EXPECT_EQ(d.num_classes, 3);
  EXPECT_EQ(d.features, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
  // Once one label is a name, all are names: "10" sorts before "2".
  const Dataset mixed = load(csv("1,2\n1,10\n1,x\n", "header: NO"));
  EXPECT_EQ(mixed.class_names, (std::vector<std::string>{"10", "2", "x"}));
  EXPECT_EQ(mixed.labels, (std::vector<float>{1, 0, 2}));
}

TEST_F(CsvColumns, GivenClassNamesFixTheMapping) {
  // Evaluation data may lack a class: the training data's names keep indices.
  const Dataset d = load(csv("x,label\n1,b\n2,b\n", "class_names: ['a', 'b', 'c']"));
  EXPECT_EQ(d.labels, (std::vector<float>{1, 1}));
  EXPECT_EQ(d.num_classes, 3);
  expect_error("x,label\n1,b\n2,z\n", "class_names: ['a', 'b']", "data.csv:3",
               "label 'z' in column 2 'label' is not one of the 2 class names ('a', 'b')");
  expect_error("x,label\n1,a\n", "class_names: ['a', 'a']", "data.csv.class_names", "'a' is given twice");
  expect_error("x,label\n1,a\n2,b\n3,c\n", "classes: 2", "data.csv.classes", "has 3 label names");
}

TEST_F(CsvColumns, MissingValuesAreAnErrorNamingRowAndColumn) {
  expect_error("age,income,label\n30,100,0\n40,NA,1\n", "", "data.csv:3",
               "missing value 'NA' in column 2 'income'; set missing: \"mean\"");
  expect_error("1,2,0\n,2,1\n", "", "data.csv:2", "missing value (empty field) in column 1");
  expect_error("1,2,0\n1,NaN,1\n", "", "data.csv:2", "missing value 'NaN' in column 2");
  expect_error("1,2,0\n1,2,NA\n", "missing: 'mean'", "data.csv:2", "missing label 'NA' in column 3");
  expect_error("1,2,0\n", "missing: 'median'", "data.csv.missing", "must be \"error\" or \"mean\"");
}

TEST_F(CsvColumns, MissingMeanFillsWithTheColumnMeans) {
  const Dataset d = load(csv("a,b,label\n1,NA,0\n3,10,1\n,20,0\n", "missing: 'mean'"));
  EXPECT_EQ(d.features, (std::vector<float>{1, 15, 3, 10, 2, 20}));
  EXPECT_EQ(d.fill_values, (std::vector<float>{2, 15}));
  EXPECT_EQ(d.filled, (std::vector<uint32_t>{1, 0, 1}));
  expect_error("a,b,label\n1,NA,0\n3,,1\n", "missing: 'mean'", "data.csv",
               "column 2 'b' has no values in the training rows");
}

TEST_F(CsvColumns, GivenFillValuesAreUsedInsteadOfTheDatasMeans) {
  // What validation and evaluation data get: the training data's means.
  const Dataset d = load(csv("a,b,label\n1,NA,0\n3,10,1\n", "missing: 'mean' fill_values: [7, 8]"));
  EXPECT_EQ(d.features, (std::vector<float>{1, 8, 3, 10}));
  expect_error("a,b,label\n1,NA,0\n", "missing: 'mean' fill_values: [7]", "data.csv.fill_values",
               "1 values for the 2 feature columns");
}

TEST_F(CsvColumns, MeansLeaveTheValidationSplitOut) {
  // The last quarter becomes validation data: its 100 is not in the mean,
  // and its filled value is counted there.
  LoadOptions options;
  options.holdout_fraction = 0.25;
  Dataset d = load(csv("a,label\n1,0\nNA,1\n3,0\n100,1\n,0\n", "missing: 'mean'"), options);
  EXPECT_EQ(d.fill_values, (std::vector<float>{2}));
  EXPECT_EQ(d.features, (std::vector<float>{1, 2, 3, 100, 2}));
  const Dataset tail = split_off_tail(d, 0.25);  // floor(5 * 0.75) = 3 rows stay
  EXPECT_EQ(d.filled_count(), 1);
  EXPECT_EQ(tail.filled_count(), 1);
  EXPECT_EQ(tail.fill_values, d.fill_values);
}

TEST_F(CsvColumns, LocalShardsShareClassNamesAndMeans) {
  // Shard 1 holds no "a" and no missing value: it still maps and fills as
  // the whole file does.
  const std::string spec = csv("x,label\n1,a\nNA,b\n5,c\n4,b\n6,c\n", "missing: 'mean'") + " shard_mode: LOCAL";
  const Dataset whole = load(csv("x,label\n1,a\nNA,b\n5,c\n4,b\n6,c\n", "missing: 'mean'"));
  std::vector<float> features, labels;
  for (int part = 0; part < 3; ++part) {
    const Dataset d = load(spec, LoadOptions{part, 3});
    EXPECT_EQ(d.class_names, whole.class_names) << "part " << part;
    EXPECT_EQ(d.fill_values, whole.fill_values) << "part " << part;
    EXPECT_EQ(d.num_classes, 3) << "part " << part;
    features.insert(features.end(), d.features.begin(), d.features.end());
    labels.insert(labels.end(), d.labels.begin(), d.labels.end());
  }
  EXPECT_EQ(features, whole.features);
  EXPECT_EQ(labels, whole.labels);
}

TEST_F(CsvColumns, LoadSummarySaysWhatWasRead) {
  const Dataset d = load(csv("x,y,species\n1,2,b\n3,NA,a\n", "missing: 'mean'"));
  EXPECT_EQ(load_summary(d, "data"), "data: " + path_ +
                                         ": 2 samples, 2 features, 2 classes (0=a 1=b), 1 missing value filled with "
                                         "the training means, header: column names detected");
}

}  // namespace
}  // namespace lockstep::datatest
