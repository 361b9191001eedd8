// Reading a run's history.jsonl for `trainer report`: one JSON object per
// epoch ({"epoch": 1, "loss": 0.17, ..., "ranks": 1}). The trainer writes
// numbers with printf, so a diverged run has bare `nan`/`inf` values, which
// JSON (and protobuf's JSON parser) rejects; this reader accepts them and
// keeps every numeric field by name, "ranks" too (EpochMetrics has no field
// for it). A last line without its newline is a line still being written:
// it is skipped, not an error.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lockstep::cli {

struct EpochRecord {
  int64_t epoch = 0;
  std::map<std::string, double> values;  // every numeric field, "epoch" included

  bool has(const std::string& field) const { return values.count(field) > 0; }
  double get(const std::string& field) const;  // NaN when absent
};

struct RunHistory {
  std::vector<EpochRecord> epochs;  // in epoch order
  int skipped_partial_line = 0;     // line number of an incomplete last line, 0 if none
};

// Throws lockstep::Error "PATH:LINE: what" (exit status 2) for a line that
// is not a JSON object with a numeric "epoch", and "PATH: ..." when the file
// cannot be read.
RunHistory read_history(const std::string& path);

// The numeric fields of one JSON object (strings, booleans, null, arrays and
// nested objects are skipped). Returns false and sets `error` (with the
// column) when `text` is not one well-formed object.
bool parse_json_numbers(const std::string& text, std::map<std::string, double>& numbers, std::string& error);

}  // namespace lockstep::cli
