#include "launch/cli/report_html.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "launch/cli/report_chart.h"
#include "launch/cli/report_config.h"
#include "launch/cli/report_tables.h"

namespace lockstep::cli {
namespace {

const char* const kStyle = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; font-size: 15px; color: #1a1a1a;
       margin: 24px; max-width: 1240px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 28px 0 8px; }
.meta { color: #555; margin: 0 0 16px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.charts figure { margin: 0; border: 1px solid #ddd; border-radius: 6px; padding: 4px; }
svg.chart { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d8d8d8; padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; }
td.run, th.run, td.path { white-space: nowrap; }
td.best { font-weight: bold; }
.ep { color: #666; font-size: 13px; }
.swatch { display: inline-block; width: 22px; height: 4px; margin: 0 8px 4px 0; vertical-align: middle; }
.none { color: #999; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13.5px; }
p.note { color: #555; }
)";

// The epochs' (epoch, value) for a field; empty when no epoch has it.
std::vector<std::pair<double, double>> points_of(const RunHistory& h, const std::string& field) {
  std::vector<std::pair<double, double>> points;
  for (const EpochRecord& e : h.epochs)
    if (e.has(field)) points.emplace_back(static_cast<double>(e.epoch), e.get(field));
  return points;
}

// A chart of `field` (and `val_field` when non-empty) for every run.
Chart make_chart(const std::vector<ReportRun>& runs, const std::string& id, const std::string& title,
                 const std::string& y_label, const std::string& field, const std::string& val_field) {
  Chart chart{id, title, y_label, {}, {}};
  for (size_t r = 0; r < runs.size(); ++r) {
    chart.runs.emplace_back(runs[r].name, r);
    if (field == "accuracy" && !has_accuracy(runs[r])) continue;
    Series train{runs[r].name, r, false, field, points_of(runs[r].history, field)};
    if (!train.points.empty()) chart.series.push_back(std::move(train));
    if (val_field.empty() || !has_validation(runs[r])) continue;
    Series val{runs[r].name, r, true, val_field, points_of(runs[r].history, val_field)};
    if (!val.points.empty()) chart.series.push_back(std::move(val));
  }
  return chart;
}

std::string charts_html(const std::vector<ReportRun>& runs) {
  std::vector<Chart> charts;
  charts.push_back(make_chart(runs, "chart-loss", "Loss", "loss", "loss", "val_loss"));
  Chart accuracy = make_chart(runs, "chart-accuracy", "Accuracy", "accuracy", "accuracy", "val_accuracy");
  if (!accuracy.series.empty()) charts.push_back(std::move(accuracy));
  charts.push_back(make_chart(runs, "chart-learning-rate", "Learning rate", "learning rate", "learning_rate", ""));
  charts.push_back(make_chart(runs, "chart-throughput", "Throughput", "samples/s", "samples_per_second", ""));
  std::string s = "<section class=\"charts\">\n";
  for (const Chart& c : charts) s += "<figure>" + chart_svg(c) + "</figure>\n";
  return s + "</section>\n";
}

std::string header_html(const std::vector<ReportRun>& runs, const std::string& generated) {
  std::string names;
  for (const ReportRun& r : runs) names += (names.empty() ? "" : ", ") + r.name;
  size_t epochs = 0;
  for (const ReportRun& r : runs) epochs += r.history.epochs.size();
  std::string s = "<h1>Training report</h1>\n<p class=\"meta\">" + std::to_string(runs.size()) +
                  (runs.size() == 1 ? " run" : " runs") + ", " + std::to_string(epochs) +
                  (epochs == 1 ? " epoch: " : " epochs: ") + escape_html(names) + ". Made " + escape_html(generated) +
                  " by <code>trainer report</code>.</p>\n";
  if (epochs == 0) s += "<p class=\"note\">No epoch has finished yet: the charts are empty.</p>\n";
  return s;
}

}  // namespace

std::string report_html(const std::vector<ReportRun>& runs, const std::string& generated) {
  std::string title;
  for (const ReportRun& r : runs) title += (title.empty() ? "" : ", ") + r.name;
  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Training report: " +
      escape_html(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  s += header_html(runs, generated);
  s += charts_html(runs);
  s += "<h2>Final and best</h2>\n" + results_table_html(runs);
  if (runs.size() == 1)
    s += "<h2>Settings</h2>\n" + settings_table_html(runs[0]);
  else
    s += "<h2>Config differences</h2>\n" + differences_table_html(runs);
  s += "<h2>Runs</h2>\n" + runs_table_html(runs);
  return s + "</body>\n</html>\n";
}

}  // namespace lockstep::cli
