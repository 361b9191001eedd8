// In-memory data sets: features as float rows, labels as float rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/shape.h"

namespace lockstep {

class DataSpec;  // proto/train.proto

enum class LabelKind {
  kClassIndex,  // label_width == 1, value is the class index 0..num_classes-1
  kOneHot,      // label_width == num_classes
  kValue,       // regression targets, label_width columns
};

struct Dataset {
  Shape sample_shape;          // per-sample feature shape, e.g. {14} or {28, 28, 1}
  int64_t num_samples = 0;
  std::vector<float> features;  // num_samples * numel(sample_shape), row-major
  LabelKind label_kind = LabelKind::kClassIndex;
  int64_t label_width = 1;
  std::vector<float> labels;    // num_samples * label_width
  int32_t num_classes = 0;      // 0 for kValue
  std::string source;           // file name (or "synthetic") for messages
  std::vector<float> weights;   // per-sample loss weights (CSV sample_weight_column); empty = all 1
  // What loading found, for the load summary and for checkpoints (CSV):
  std::vector<std::string> class_names;  // string labels: class i is class_names[i]; empty = numeric labels
  std::vector<float> fill_values;        // missing: "mean": the value per feature missing fields got
  std::vector<uint32_t> filled;          // missing fields filled per sample; empty = none
  std::string header;                    // "column names", "none", ...; empty = not a CSV file

  int64_t sample_size() const { return numel(sample_shape); }
  const float* sample(int64_t i) const { return features.data() + i * sample_size(); }
  const float* label(int64_t i) const { return labels.data() + i * label_width; }
  const float* weights_from(int64_t i) const { return weights.empty() ? nullptr : weights.data() + i; }
  int64_t filled_count() const;
};

struct LoadOptions {
  // shard_mode LOCAL: load only part `shard_index` of `shard_count`
  // contiguous, as-even-as-possible parts of the file. GLOBAL: 0 of 1.
  int shard_index = 0;
  int shard_count = 1;
  // validation_split that will be taken off the end of each part: those
  // rows are not training data, so CSV `missing: "mean"` leaves them out of
  // the means.
  double holdout_fraction = 0;
};

// Loads the data set a DataSpec describes (synthetic, CSV, IDX, NPY), applies
// limit, scale and shift, and validates it (no NaN/Inf, labels in range,
// not empty). `field` is the config path of the spec ("data",
// "validation_data") used in error messages when no file position applies.
// Errors: lockstep::Error with exit status 2, WHERE = "file:line" or field.
Dataset load_dataset(const DataSpec& spec, const std::string& field, const LoadOptions& options = {});

// Removes the last `fraction` of the samples (Keras validation_split takes
// them from the end, before shuffling) and returns them as a new data set.
Dataset split_off_tail(Dataset& data, double fraction);

// The number of samples split_off_tail(data with n samples, fraction)
// leaves for training; an input error when that leaves either side empty.
int64_t training_samples_after_split(int64_t n, double fraction);

// One line on what was loaded: "FIELD: PATH: N samples, F features, K
// classes (0=a 1=b), header: column names". For the user to check that the
// file was read as meant.
std::string load_summary(const Dataset& data, const std::string& field);

}  // namespace lockstep
