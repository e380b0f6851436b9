// visual_rft/demo/plot.h: line charts as PNG, drawn with OpenCV: the demo's reward, KL and
// loss curves (no plotting library in C++; scripts/plot_metrics.py does the same from Python).
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vrft {

struct Series {
  std::string label;
  std::vector<double> x, y;  // same length; non-finite points are skipped
};

struct Panel {
  std::string title, x_label;
  std::vector<Series> series;
};

// An axis tick's label: whole numbers as they are ("1", "64": steps), 1e-2 <= |v| < 10 with two
// decimals, 10 <= |v| < 1000 rounded, anything else in exponent form ("-3.1e-03").
std::string tick_text(double v);

// One chart per panel, side by side, each W x H pixels with axes, ticks, a legend and one
// colour per series (in order). Returns an 8-bit BGR image.
cv::Mat plot_panels(const std::vector<Panel>& panels, int width = 480, int height = 320);

// Images of equal height side by side, rows of them stacked, each row labelled on the left;
// images of other sizes are resized to `cell` pixels square.
cv::Mat image_grid(const std::vector<std::string>& row_labels, const std::vector<std::vector<cv::Mat>>& rows,
                   int cell = 224);

}  // namespace vrft
