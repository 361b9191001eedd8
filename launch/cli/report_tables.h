// The tables of `trainer report`'s page: final and best figures, a run's
// key settings, the config differences between runs, and the runs themselves.
#pragma once

#include <string>
#include <vector>

#include "launch/cli/report_html.h"

namespace lockstep::cli {

// val_* values count only when the run validates (older trainers wrote
// val_loss 0 without validation data).
bool has_validation(const ReportRun& run);
// False for a regression (mean squared error) run whose accuracy is all 0.
bool has_accuracy(const ReportRun& run);

std::string results_table_html(const std::vector<ReportRun>& runs);
std::string settings_table_html(const ReportRun& run);
std::string differences_table_html(const std::vector<ReportRun>& runs);
std::string runs_table_html(const std::vector<ReportRun>& runs);

}  // namespace lockstep::cli
