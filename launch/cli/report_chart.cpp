#include "launch/cli/report_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace lockstep::cli {
namespace {

// Geometry of one chart, in SVG pixels.
constexpr double kWidth = 580, kLeft = 74, kRight = 18, kTop = 40, kPlotHeight = 250;
constexpr double kPlotBottom = kTop + kPlotHeight, kPlotRight = kWidth - kRight;
constexpr double kLegendTop = kPlotBottom + 58, kLegendRow = 22, kCharWidth = 7.4;

std::string num(double v, const char* format = "%.1f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Heckbert's "nice number": 1, 2, 5 or 10 times a power of ten.
double nice_number(double x, bool round) {
  const double exponent = std::floor(std::log10(x));
  const double fraction = x / std::pow(10.0, exponent);
  double nice;
  if (round)
    nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  else
    nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * std::pow(10.0, exponent);
}

// Maps data to pixels.
struct Frame {
  Ticks x, y;
  double px(double v) const { return kLeft + (v - x.lo) / (x.hi - x.lo) * (kPlotRight - kLeft); }
  double py(double v) const { return kPlotBottom - (v - y.lo) / (y.hi - y.lo) * kPlotHeight; }
};

Frame frame_for(const Chart& chart) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const Series& s : chart.series)
    for (const auto& [x, y] : s.points) {
      x0 = std::min(x0, x), x1 = std::max(x1, x);
      if (std::isfinite(y)) y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (!std::isfinite(x0)) x0 = x1 = 1;
  if (!std::isfinite(y0)) y0 = 0, y1 = 1;
  return {nice_ticks(x0, x1, 8, true), nice_ticks(y0, y1, 6, false)};
}

std::string axes_svg(const Frame& f, const Chart& chart) {
  std::string s = "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">";
  for (double v : f.y.values)
    s += "<line x1=\"" + num(kLeft) + "\" x2=\"" + num(kPlotRight) + "\" y1=\"" + num(f.py(v)) + "\" y2=\"" +
         num(f.py(v)) + "\"/>";
  for (double v : f.x.values)
    s += "<line y1=\"" + num(kTop) + "\" y2=\"" + num(kPlotBottom) + "\" x1=\"" + num(f.px(v)) + "\" x2=\"" +
         num(f.px(v)) + "\"/>";
  s += "</g><g class=\"axes\" stroke=\"#555\" stroke-width=\"1.2\" fill=\"none\"><path d=\"M" + num(kLeft) + " " +
       num(kTop) + "V" + num(kPlotBottom) + "H" + num(kPlotRight) + "\"/></g>";
  s += "<g class=\"yticks\" font-size=\"13\" fill=\"#333\" text-anchor=\"end\">";
  for (double v : f.y.values)
    s += "<g class=\"ytick\" data-value=\"" + num(v, "%.12g") + "\" data-y=\"" + num(f.py(v)) + "\"><text x=\"" +
         num(kLeft - 8) + "\" y=\"" + num(f.py(v) + 4.5) + "\">" +
         format_tick(v, f.y.step, std::max(std::fabs(f.y.lo), std::fabs(f.y.hi))) + "</text></g>";
  s += "</g><g class=\"xticks\" font-size=\"13\" fill=\"#333\" text-anchor=\"middle\">";
  for (double v : f.x.values)
    s += "<g class=\"xtick\" data-value=\"" + num(v, "%.12g") + "\" data-x=\"" + num(f.px(v)) + "\"><text x=\"" +
         num(f.px(v)) + "\" y=\"" + num(kPlotBottom + 19) + "\">" +
         format_tick(v, f.x.step, std::max(std::fabs(f.x.lo), std::fabs(f.x.hi))) + "</text></g>";
  s += "</g><text x=\"" + num((kLeft + kPlotRight) / 2) + "\" y=\"" + num(kPlotBottom + 42) +
       "\" font-size=\"14\" fill=\"#222\" text-anchor=\"middle\">epoch</text>";
  s += "<text transform=\"translate(18 " + num(kTop + kPlotHeight / 2) +
       ") rotate(-90)\" font-size=\"14\" fill=\"#222\" text-anchor=\"middle\">" + escape_html(chart.y_label) +
       "</text>";
  return s;
}

// The line (split where a value is missing or not finite), then the markers.
std::string series_svg(const Frame& f, const Series& s) {
  const std::string colour = run_colour(s.colour);
  const std::string dash = s.validation ? " stroke-dasharray=\"7 4\"" : "";
  const std::string attrs = " data-run=\"" + escape_html(s.run) + "\" data-field=\"" + escape_html(s.field) + "\"";
  std::string out = "<g class=\"series\"" + attrs + ">", line;
  auto flush = [&] {
    if (!line.empty())
      out += "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2.2\" stroke-linejoin=\"round\"" + dash +
             " points=\"" + line + "\"/>";
    line.clear();
  };
  for (const auto& [x, y] : s.points) {
    if (!std::isfinite(y))
      flush();
    else
      line += (line.empty() ? "" : " ") + num(f.px(x)) + "," + num(f.py(y));
  }
  flush();
  const double r = s.points.size() <= 30 ? 3.2 : s.points.size() <= 80 ? 2.2 : 1.4;
  const std::string fill = s.validation ? "#fff" : colour;
  for (const auto& [x, y] : s.points) {
    if (!std::isfinite(y)) continue;
    out += "<circle class=\"pt\" cx=\"" + num(f.px(x)) + "\" cy=\"" + num(f.py(y)) + "\" r=\"" + num(r) + "\" fill=\"" +
           fill + "\" stroke=\"" + colour + "\" stroke-width=\"1.5\"" + attrs + " data-epoch=\"" + num(x, "%.0f") +
           "\" data-value=\"" + num(y, "%.17g") + "\"><title>" + escape_html(s.run) + ", epoch " + num(x, "%.0f") +
           ": " + escape_html(s.field) + " = " + num(y, "%.6g") + "</title></circle>";
  }
  return out + "</g>";
}

// Legend rows below the plot: a line sample per run, then (when the chart
// has validation curves) what solid and dashed mean. Returns its height.
double legend_svg(const Chart& chart, std::string& out) {
  struct Item {
    std::string label, colour;
    bool dashed;
  };
  std::vector<Item> items;
  for (const auto& [name, colour] : chart.runs)
    items.push_back({name.size() > 48 ? name.substr(0, 46) + "..." : name, run_colour(colour), false});
  if (std::any_of(chart.series.begin(), chart.series.end(), [](const Series& s) { return s.validation; })) {
    items.push_back({"train", "#666", false});
    items.push_back({"validation", "#666", true});
  }
  double x = kLeft, y = kLegendTop;
  out += "<g class=\"legend\" font-size=\"13\" fill=\"#222\">";
  for (const Item& item : items) {
    const double width = 30 + item.label.size() * kCharWidth + 18;
    if (x > kLeft && x + width > kPlotRight) x = kLeft, y += kLegendRow;
    out += "<line x1=\"" + num(x) + "\" x2=\"" + num(x + 24) + "\" y1=\"" + num(y - 4) + "\" y2=\"" + num(y - 4) +
           "\" stroke=\"" + item.colour + "\" stroke-width=\"3\"" + (item.dashed ? " stroke-dasharray=\"7 4\"" : "") +
           "/><text x=\"" + num(x + 30) + "\" y=\"" + num(y) + "\">" + escape_html(item.label) + "</text>";
    x += width;
  }
  out += "</g>";
  return y - kLegendTop + kLegendRow;
}

}  // namespace

const char* run_colour(size_t run_index) {
  static const char* const kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000"};
  return kPalette[run_index % (sizeof kPalette / sizeof kPalette[0])];
}

Ticks nice_ticks(double min, double max, int target, bool integer) {
  // Values a float's rounding away from a tick (0.100000001) count as on it.
  constexpr double kSlack = 1e-6;
  Ticks t;
  if (max < min) std::swap(min, max);
  if (max == min) {
    const double pad = integer ? 0.5 : min == 0 ? 1 : std::fabs(min) * 0.5;
    t.step = integer ? 1 : nice_number(pad, true);
    t.lo = min - pad, t.hi = max + pad;
    if (!integer) t.lo = std::floor(t.lo / t.step + kSlack) * t.step, t.hi = std::ceil(t.hi / t.step - kSlack) * t.step;
  } else {
    t.step = nice_number(nice_number(max - min, false) / (target - 1), true);
    if (integer) t.step = std::max(1.0, std::round(t.step));
    t.lo = std::floor(min / t.step + kSlack) * t.step, t.hi = std::ceil(max / t.step - kSlack) * t.step;
  }
  for (long k = std::lround(std::ceil(t.lo / t.step - 1e-9)); k * t.step <= t.hi + t.step * 1e-9; ++k)
    t.values.push_back(std::fabs(k * t.step) < t.step * 1e-9 ? 0.0 : k * t.step);
  return t;
}

std::string format_tick(double value, double step, double magnitude) {
  if (value == 0) return "0";
  magnitude = std::max(magnitude, step);
  const char* suffix = magnitude >= 1e6 ? "M" : magnitude >= 1e4 ? "k" : "";
  const double scale = magnitude >= 1e6 ? 1e6 : magnitude >= 1e4 ? 1e3 : 1;
  const double scaled_step = step / scale;
  const int decimals = scaled_step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(scaled_step) - 1e-9));
  if (decimals > 6) return num(value, "%.3g");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, value / scale, suffix);
  return buf;
}

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string chart_svg(const Chart& chart) {
  const Frame frame = frame_for(chart);
  std::string body = axes_svg(frame, chart);
  for (const Series& s : chart.series) body += series_svg(frame, s);
  const double legend_height = legend_svg(chart, body);
  const double height = kLegendTop + legend_height;
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" + escape_html(chart.id) + "\" class=\"chart\" width=\"" +
         num(kWidth, "%.0f") + "\" height=\"" + num(height, "%.0f") + "\" viewBox=\"0 0 " + num(kWidth, "%.0f") + " " +
         num(height, "%.0f") + "\" role=\"img\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">" +
         "<title>" + escape_html(chart.title) + "</title><text x=\"" + num(kLeft) +
         "\" y=\"24\" font-size=\"17\" font-weight=\"bold\" fill=\"#111\">" + escape_html(chart.title) + "</text>" +
         body + "</svg>";
}

}  // namespace lockstep::cli
