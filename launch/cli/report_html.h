// The page `trainer report` writes: one self-contained HTML file (inline
// CSS and SVG, no scripts, nothing fetched) with the learning curves, the
// final and best figures, and the runs' settings or config differences.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "launch/cli/report_history.h"
#include "train.pb.h"

namespace lockstep::cli {

struct ReportRun {
  std::string name;  // unique among the runs (the run dir's last component, more when needed)
  std::string dir;   // as given
  RunHistory history;
  std::optional<TrainConfig> config;  // config.pbtxt, when there is one
  bool finished = false;              // final/model.pb exists
};

// `generated` is shown as the time the report was made.
std::string report_html(const std::vector<ReportRun>& runs, const std::string& generated);

}  // namespace lockstep::cli
