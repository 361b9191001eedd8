#include "launch/cli/report_tables.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/summary.h"
#include "launch/cli/report_chart.h"
#include "launch/cli/report_config.h"

namespace lockstep::cli {
namespace {

std::string printf_text(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Keras prints metrics with 4 decimals.
std::string metric_text(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
  return printf_text(std::fabs(v) < 1e4 ? "%.4f" : "%.4g", v);
}

std::string duration_text(double seconds) {
  if (seconds < 60) return printf_text(seconds < 10 ? "%.2f s" : "%.1f s", seconds);
  const long s = std::lround(seconds);
  char buf[64];
  if (s < 3600)
    std::snprintf(buf, sizeof buf, "%ld min %02ld s", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld h %02ld min", s / 3600, (s % 3600) / 60);
  return buf;
}

std::string run_cell(const std::vector<ReportRun>& runs, size_t r, const char* tag = "td") {
  return std::string("<") + tag + " class=\"run\"><span class=\"swatch\" style=\"background:" + run_colour(r) +
         "\"></span>" + escape_html(runs[r].name) + "</" + tag + ">";
}

std::string none_cell() { return "<td class=\"num none\">\u2014</td>"; }

bool any_epoch_has(const ReportRun& run, const std::string& field) {
  return std::any_of(run.history.epochs.begin(), run.history.epochs.end(),
                     [&](const EpochRecord& e) { return e.has(field); });
}

// Distinct rank counts in order ("1", "2, 4" after resuming elsewhere).
std::string ranks_text(const ReportRun& run) {
  std::vector<long> seen;
  for (const EpochRecord& e : run.history.epochs)
    if (e.has("ranks") && std::find(seen.begin(), seen.end(), std::lround(e.get("ranks"))) == seen.end())
      seen.push_back(std::lround(e.get("ranks")));
  std::string s;
  for (long v : seen) s += (s.empty() ? "" : ", ") + std::to_string(v);
  return s;
}

struct Metric {
  std::string field;
  bool lower_is_better;
};

struct Cell {
  bool present = false;
  double value = std::numeric_limits<double>::quiet_NaN();
  int64_t epoch = 0;
};

bool counts(const ReportRun& run, const std::string& field) {
  if (field.rfind("val_", 0) == 0 && !has_validation(run)) return false;
  if (field.find("accuracy") != std::string::npos && !has_accuracy(run)) return false;
  return any_epoch_has(run, field);
}

Cell final_cell(const ReportRun& run, const Metric& m) {
  Cell c;
  if (!counts(run, m.field)) return c;
  for (const EpochRecord& e : run.history.epochs)
    if (e.has(m.field)) c = {true, e.get(m.field), e.epoch};
  return c;
}

// The first epoch with the lowest (highest) finite value, as Keras'
// ModelCheckpoint(save_best_only=True) keeps it.
Cell best_cell(const ReportRun& run, const Metric& m) {
  Cell c;
  if (!counts(run, m.field)) return c;
  for (const EpochRecord& e : run.history.epochs) {
    const double v = e.get(m.field);
    if (!std::isfinite(v)) continue;
    if (!c.present || (m.lower_is_better ? v < c.value : v > c.value)) c = {true, v, e.epoch};
  }
  return c;
}

// One column of cells: the best of them in bold when several runs compare.
std::vector<std::string> column_html(const std::vector<ReportRun>& runs, const Metric& m, bool best) {
  std::vector<Cell> cells;
  for (const ReportRun& run : runs) cells.push_back(best ? best_cell(run, m) : final_cell(run, m));
  double top = std::numeric_limits<double>::quiet_NaN();
  size_t present = 0;
  for (const Cell& c : cells)
    if (c.present && std::isfinite(c.value)) {
      ++present;
      if (std::isnan(top) || (m.lower_is_better ? c.value < top : c.value > top)) top = c.value;
    }
  std::vector<std::string> out;
  for (const Cell& c : cells) {
    if (!c.present) {
      out.push_back(none_cell());
      continue;
    }
    const bool bold = present > 1 && c.value == top;
    std::string td = std::string("<td class=\"num") + (bold ? " best" : "") + "\" data-field=\"" + m.field +
                     "\" data-kind=\"" + (best ? "best" : "final") + "\">" + metric_text(c.value);
    if (best) td += " <span class=\"ep\">epoch " + std::to_string(c.epoch) + "</span>";
    out.push_back(td + "</td>");
  }
  return out;
}

}  // namespace

bool has_validation(const ReportRun& run) {
  if (!any_epoch_has(run, "val_loss") && !any_epoch_has(run, "val_accuracy")) return false;
  return !run.config || run.config->validation_split() > 0 || run.config->has_validation_data();
}

bool has_accuracy(const ReportRun& run) {
  if (!any_epoch_has(run, "accuracy")) return false;
  if (!run.config || run.config->loss() != "mean_squared_error") return true;
  return std::any_of(run.history.epochs.begin(), run.history.epochs.end(),
                     [](const EpochRecord& e) { return e.has("accuracy") && e.get("accuracy") != 0; });
}

std::string results_table_html(const std::vector<ReportRun>& runs) {
  std::vector<Metric> metrics;
  for (const Metric& m :
       {Metric{"loss", true}, Metric{"accuracy", false}, Metric{"val_loss", true}, Metric{"val_accuracy", false}})
    if (std::any_of(runs.begin(), runs.end(), [&](const ReportRun& r) { return counts(r, m.field); }))
      metrics.push_back(m);
  if (metrics.empty()) return "<p class=\"note\">No epoch has finished yet.</p>\n";
  const std::string n = std::to_string(metrics.size());
  std::string s =
      "<table class=\"results\">\n<tr><th rowspan=\"2\">run</th><th rowspan=\"2\">epochs</th>"
      "<th colspan=\"" +
      n + "\">final (last epoch)</th><th colspan=\"" + n + "\">best (epoch)</th></tr>\n<tr>";
  for (int pass = 0; pass < 2; ++pass)
    for (const Metric& m : metrics) s += "<th>" + m.field + "</th>";
  s += "</tr>\n";
  std::vector<std::vector<std::string>> columns;
  for (const bool best : {false, true})
    for (const Metric& m : metrics) columns.push_back(column_html(runs, m, best));
  for (size_t r = 0; r < runs.size(); ++r) {
    s += "<tr data-run=\"" + escape_html(runs[r].name) + "\">" + run_cell(runs, r) + "<td class=\"num\">" +
         std::to_string(runs[r].history.epochs.size()) + "</td>";
    for (const auto& column : columns) s += column[r];
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

std::string settings_table_html(const ReportRun& run) {
  if (!run.config) return "<p class=\"note\">No config.pbtxt in " + escape_html(run.dir) + ".</p>\n";
  const TrainConfig& c = *run.config;
  std::vector<std::pair<std::string, std::string>> rows = {
      {"model", model_line(c.model())}, {"loss", c.loss()}, {"optimizer", optimizer_line(c.optimizer())}};
  if (const std::string schedule = schedule_line(c.lr_schedule()); !schedule.empty())
    rows.emplace_back("learning-rate schedule", schedule);
  rows.emplace_back("batch_size (global)", std::to_string(c.batch_size()));
  rows.emplace_back("epochs",
                    std::to_string(run.history.epochs.size()) + " of " + std::to_string(c.epochs()) + " done");
  rows.emplace_back("ranks", ranks_text(run).empty() ? "?" : ranks_text(run));
  rows.emplace_back("data", data_line(c));
  rows.emplace_back("seed", std::to_string(c.seed()));
  std::string s = "<table class=\"settings\">\n";
  for (const auto& [name, value] : rows)
    s += "<tr><th>" + escape_html(name) + "</th><td><code>" + escape_html(value) + "</code></td></tr>\n";
  return s + "</table>\n";
}

std::string differences_table_html(const std::vector<ReportRun>& runs) {
  std::vector<std::vector<ConfigField>> fields;
  std::vector<size_t> with_config;
  for (size_t r = 0; r < runs.size(); ++r) {
    if (!runs[r].config) continue;
    with_config.push_back(r);
    std::vector<ConfigField> f = flatten_config(*runs[r].config);
    f.erase(std::remove_if(f.begin(), f.end(), [](const ConfigField& x) { return x.path == "run_dir"; }), f.end());
    f.push_back({"ranks (from history)", ranks_text(runs[r]), ranks_text(runs[r]), {}});
    fields.push_back(std::move(f));
  }
  const std::vector<DiffRow> rows = config_differences(fields);
  std::string s;
  if (with_config.size() < runs.size()) s += "<p class=\"note\">Runs without config.pbtxt are marked ?.</p>\n";
  if (rows.empty())
    return s + "<p class=\"note\">The configs are the same (run_dir apart), and so are the ranks.</p>\n";
  s += "<table class=\"differences\">\n<tr><th>field</th>";
  for (size_t r = 0; r < runs.size(); ++r) s += run_cell(runs, r, "th");
  s += "</tr>\n";
  for (const DiffRow& row : rows) {
    s += "<tr><td class=\"path\"><code>" + escape_html(row.path) + "</code></td>";
    size_t k = 0;
    for (size_t r = 0; r < runs.size(); ++r) {
      const bool known = k < with_config.size() && with_config[k] == r;
      const std::string v = known ? row.values[k++] : "?";
      s += v.empty() ? "<td class=\"none\">\u2014</td>" : "<td><code>" + escape_html(v) + "</code></td>";
    }
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

std::string runs_table_html(const std::vector<ReportRun>& runs) {
  std::string s =
      "<table class=\"runs\">\n<tr><th>run</th><th>directory</th><th>status</th><th>epochs</th>"
      "<th>ranks</th><th>training time</th><th>mean samples/s</th></tr>\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    const ReportRun& run = runs[r];
    double seconds = 0, rate = 0;
    for (const EpochRecord& e : run.history.epochs) {
      if (std::isfinite(e.get("seconds"))) seconds += e.get("seconds");
      if (std::isfinite(e.get("samples_per_second"))) rate += e.get("samples_per_second");
    }
    const size_t n = run.history.epochs.size();
    std::string status = run.finished ? "finished" : n ? "not finished (running, or stopped)" : "no epoch finished yet";
    if (run.history.skipped_partial_line)
      status += "; incomplete line " + std::to_string(run.history.skipped_partial_line) + " skipped";
    const std::string planned = run.config ? " of " + std::to_string(run.config->epochs()) : "";
    s += "<tr>" + run_cell(runs, r) + "<td><code>" + escape_html(run.dir) + "</code></td><td>" + escape_html(status) +
         "</td><td class=\"num\">" + std::to_string(n) + planned + "</td><td class=\"num\">" +
         (ranks_text(run).empty() ? "?" : ranks_text(run)) + "</td><td class=\"num\">" +
         (n ? duration_text(seconds) : "\u2014") + "</td><td class=\"num\">" +
         (n ? with_thousands(std::llround(rate / n)) : "\u2014") + "</td></tr>\n";
  }
  return s + "</table>\n";
}

}  // namespace lockstep::cli
