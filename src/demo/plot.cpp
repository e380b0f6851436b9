// src/demo/plot.cpp: line charts and image grids with OpenCV (see the header).
#include "visual_rft/demo/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>

namespace vrft {
namespace {

// Tableau-like colours, BGR.
const cv::Scalar kColours[] = {{180, 119, 31}, {14, 127, 255},  {44, 160, 44},
                               {40, 39, 214},  {189, 103, 148}, {75, 86, 140}};

void draw_panel(cv::Mat& img, const cv::Rect& area, const Panel& p) {
  const int left = 56, right = 12, top = 28, bottom = 40;
  const cv::Rect plot(area.x + left, area.y + top, area.width - left - right, area.height - top - bottom);
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const Series& s : p.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]), y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  }
  cv::putText(img, p.title, {area.x + left, area.y + 18}, cv::FONT_HERSHEY_SIMPLEX, 0.5, {0, 0, 0}, 1, cv::LINE_AA);
  cv::rectangle(img, plot, {0, 0, 0}, 1);
  if (!(x0 <= x1)) {  // nothing finite to draw
    cv::putText(img, "no data", {plot.x + 10, plot.y + plot.height / 2}, cv::FONT_HERSHEY_SIMPLEX, 0.5, {0, 0, 0}, 1);
    return;
  }
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return plot.x + static_cast<int>(std::lround((x - x0) / (x1 - x0) * (plot.width - 1))); };
  auto py = [&](double y) {
    return plot.y + plot.height - 1 - static_cast<int>(std::lround((y - y0) / (y1 - y0) * (plot.height - 1)));
  };
  for (int t = 0; t <= 4; ++t) {  // ticks and light grid lines
    const double yv = y0 + (y1 - y0) * t / 4, xv = x0 + (x1 - x0) * t / 4;
    cv::line(img, {plot.x, py(yv)}, {plot.x + plot.width - 1, py(yv)}, {225, 225, 225}, 1);
    cv::putText(img, tick_text(yv), {area.x + 4, py(yv) + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.35, {60, 60, 60}, 1,
                cv::LINE_AA);
    cv::putText(img, tick_text(xv), {px(xv) - 8, plot.y + plot.height + 14}, cv::FONT_HERSHEY_SIMPLEX, 0.35,
                {60, 60, 60}, 1, cv::LINE_AA);
  }
  cv::putText(img, p.x_label, {plot.x + plot.width / 2 - 16, area.y + area.height - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.4,
              {60, 60, 60}, 1, cv::LINE_AA);
  for (size_t k = 0; k < p.series.size(); ++k) {
    const Series& s = p.series[k];
    const cv::Scalar c = kColours[k % (sizeof kColours / sizeof kColours[0])];
    std::vector<cv::Point> pts;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) pts.emplace_back(px(s.x[i]), py(s.y[i]));
    }
    if (pts.size() == 1) cv::circle(img, pts[0], 2, c, cv::FILLED);
    if (pts.size() > 1) cv::polylines(img, pts, false, c, 2, cv::LINE_AA);
    const cv::Point at(plot.x + 8, plot.y + 14 + 14 * static_cast<int>(k));  // legend
    cv::line(img, at + cv::Point(0, -4), at + cv::Point(14, -4), c, 2);
    cv::putText(img, s.label, at + cv::Point(18, 0), cv::FONT_HERSHEY_SIMPLEX, 0.4, {0, 0, 0}, 1, cv::LINE_AA);
  }
}

}  // namespace

std::string tick_text(double v) {
  if (v == 0) return "0";  // also -0.0, which "{:.0f}" would write "-0"
  const double a = std::fabs(v);
  if (a < 1e6 && v == std::round(v)) return fmt::format("{:.0f}", v);  // a step: "1", not "1.00"
  if (a >= 1000 || a < 0.01) return fmt::format("{:.1e}", v);
  if (a >= 10) return fmt::format("{:.0f}", v);
  return fmt::format("{:.2f}", v);
}

cv::Mat plot_panels(const std::vector<Panel>& panels, int width, int height) {
  cv::Mat img(height, width * std::max<int>(1, static_cast<int>(panels.size())), CV_8UC3, cv::Scalar(255, 255, 255));
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(img, {static_cast<int>(i) * width, 0, width, height}, panels[i]);
  return img;
}

cv::Mat image_grid(const std::vector<std::string>& row_labels, const std::vector<std::vector<cv::Mat>>& rows,
                   int cell) {
  const int label_w = 120, gap = 4;
  size_t cols = 0;
  for (const auto& r : rows) cols = std::max(cols, r.size());
  cv::Mat img(static_cast<int>(rows.size()) * (cell + gap) + gap, label_w + static_cast<int>(cols) * (cell + gap) + gap,
              CV_8UC3, cv::Scalar(255, 255, 255));
  for (size_t r = 0; r < rows.size(); ++r) {
    const int y = gap + static_cast<int>(r) * (cell + gap);
    if (r < row_labels.size()) {
      cv::putText(img, row_labels[r], {6, y + cell / 2}, cv::FONT_HERSHEY_SIMPLEX, 0.5, {0, 0, 0}, 1, cv::LINE_AA);
    }
    for (size_t c = 0; c < rows[r].size(); ++c) {
      if (rows[r][c].empty()) continue;
      cv::Mat cellimg;
      cv::resize(rows[r][c], cellimg, {cell, cell}, 0, 0, cv::INTER_AREA);
      cellimg.copyTo(img(cv::Rect(label_w + gap + static_cast<int>(c) * (cell + gap), y, cell, cell)));
    }
  }
  return img;
}

}  // namespace vrft
