// Line charts as inline SVG for `trainer report`: per-epoch curves, one
// colour per run, train solid and validation dashed, axes with 1-2-5 ticks,
// a legend. Every point is a <circle> carrying its data (data-run,
// data-field, data-epoch, data-value) and a <title> tooltip, so a script can
// read the plotted values back and a browser shows them on hover.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace lockstep::cli {

// Okabe & Ito's colour-blind-safe palette (yellow left out: unreadable on
// white), in an order that keeps neighbours far apart; cycles after 7.
const char* run_colour(size_t run_index);

struct Series {
  std::string run;                                // legend label
  size_t colour = 0;                              // run index
  bool validation = false;                        // dashed line, hollow markers
  std::string field;                              // "loss", "val_loss", ...
  std::vector<std::pair<double, double>> points;  // (epoch, value); NaN/inf values leave a gap
};

struct Chart {
  std::string id;       // element id, e.g. "chart-loss"
  std::string title;    // "Loss"
  std::string y_label;  // "loss"
  std::vector<Series> series;
  std::vector<std::pair<std::string, size_t>> runs;  // legend: name and colour of every run
};

// Axis ticks: `values` at multiples of `step` (1, 2 or 5 x 10^k), covering
// [lo, hi] (the axis' extent).
struct Ticks {
  double lo = 0, hi = 1, step = 1;
  std::vector<double> values;
};
// About `target` ticks spanning [min, max]; whole numbers only when
// `integer` (epochs). A single value gets a range around it.
Ticks nice_ticks(double min, double max, int target, bool integer);
// A tick label with as many decimals as the step needs; in k or M when the
// axis reaches `magnitude` >= 10,000 (every label of an axis in one unit).
std::string format_tick(double value, double step, double magnitude);

// The <svg> element (well-formed XML, xmlns set), every text escaped.
std::string chart_svg(const Chart& chart);

// &, <, >, " and ' as entities.
std::string escape_html(const std::string& text);

}  // namespace lockstep::cli
