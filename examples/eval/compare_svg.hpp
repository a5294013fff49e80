// examples/eval/compare_svg.hpp - the heatmaps of a sweep side by side in
// one SVG: a depth × length panel per method (colour = accuracy, as
// report.hpp's heatmap_svg), then, for every method but the baseline, a
// panel of its difference to the baseline (blue: better, red: worse, in
// percentage points). Each cell is <rect class="cell"> with data-panel,
// data-length, data-depth and data-value (accuracy, or difference, in
// [0, 1] / [-1, 1]).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "report.hpp"

namespace eval {

/// Fill colour for a difference in [-1, 1]: white at 0, blue towards +0.5
/// and beyond, red towards -0.5 and beyond.
inline std::string difference_colour(double d) {
  const double t = std::clamp(std::fabs(d) / 0.5, 0.0, 1.0);
  const int far[3] = {d >= 0 ? 0x31 : 0xc6, d >= 0 ? 0x6f : 0x2d, d >= 0 ? 0xb4 : 0x2d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x",
                static_cast<int>(std::lround(255 + (far[0] - 255) * t)),
                static_cast<int>(std::lround(255 + (far[1] - 255) * t)),
                static_cast<int>(std::lround(255 + (far[2] - 255) * t)));
  return buf;
}

/// All panels in one SVG; baseline < 0 draws the method panels only.
inline std::string comparison_svg(const sweep_results& res, const std::vector<method>& methods,
                                  int baseline, const std::string& title,
                                  const std::vector<std::int64_t>& lengths,
                                  const std::vector<double>& depths) {
  constexpr int cw = 44, ch = 22, gap = 28, left = 64, top = 70, bottom = 50;
  struct panel {
    std::string heading;
    std::size_t m;
    bool difference;
  };
  std::vector<panel> panels;
  for (std::size_t m = 0; m < methods.size(); ++m) panels.push_back({methods[m].label, m, false});
  if (baseline >= 0)
    for (std::size_t m = 0; m < methods.size(); ++m)
      if (static_cast<int>(m) != baseline)
        panels.push_back(
            {methods[m].label + " - " + methods[static_cast<std::size_t>(baseline)].label, m,
             true});
  const int pw = cw * static_cast<int>(lengths.size());
  const int n = static_cast<int>(panels.size());
  const int w =
      std::max(left + n * pw + (n - 1) * gap + 20, static_cast<int>(title.size()) * 8 + 40);
  const int gh = ch * static_cast<int>(depths.size());
  const int h = top + gh + bottom;
  const auto num = [](int v) { return std::to_string(v); };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(w) + "\" height=\"" +
                  num(h) + "\" font-family=\"sans-serif\">\n";
  s += "<title>" + xml_escape(title) + "</title>\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text class=\"title\" x=\"" + num(left) + "\" y=\"22\" font-size=\"14\">" +
       xml_escape(title) + "</text>\n";
  for (std::size_t d = 0; d < depths.size(); ++d)
    s += "<text x=\"" + num(left - 6) + "\" y=\"" +
         num(top + ch * static_cast<int>(d) + ch / 2 + 4) +
         "\" text-anchor=\"end\" font-size=\"10\">" + fmt("%.2g", depths[d]) + "</text>\n";
  s += "<text x=\"14\" y=\"" + num(top + gh / 2) +
       "\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 14 " + num(top + gh / 2) +
       ")\">needle depth</text>\n";
  for (int p = 0; p < n; ++p) {
    const panel& pn = panels[static_cast<std::size_t>(p)];
    const int x0 = left + p * (pw + gap);
    s += "<text class=\"panel\" x=\"" + num(x0 + pw / 2) + "\" y=\"" + num(top - 24) +
         "\" text-anchor=\"middle\" font-size=\"11\">" + xml_escape(pn.heading) + "</text>\n";
    s += "<text x=\"" + num(x0 + pw / 2) + "\" y=\"" + num(top - 10) +
         "\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">" +
         (pn.difference ? "difference (points)" : "accuracy (%)") + "</text>\n";
    for (std::size_t d = 0; d < depths.size(); ++d)
      for (std::size_t l = 0; l < lengths.size(); ++l) {
        const sweep_results::cell& c = res.at(pn.m, l, d);
        const sweep_results::cell* b =
            pn.difference ? &res.at(static_cast<std::size_t>(baseline), l, d) : nullptr;
        const bool known = c.count > 0 && (!b || b->count > 0);
        const double acc = c.count ? c.score / c.count : 0.0;
        const double v = b && b->count ? acc - b->score / b->count : acc;
        const int x = x0 + cw * static_cast<int>(l), y = top + ch * static_cast<int>(d);
        s += "<rect class=\"cell\" data-panel=\"" + num(p) + "\" data-length=\"" +
             std::to_string(lengths[l]) + "\" data-depth=\"" + fmt("%.6g", depths[d]) +
             "\" data-value=\"" + fmt("%.6g", v) + "\" x=\"" + num(x) + "\" y=\"" + num(y) +
             "\" width=\"" + num(cw) + "\" height=\"" + num(ch) + "\" fill=\"" +
             (!known ? std::string("#dddddd")
              : b    ? difference_colour(v)
                     : heat_colour(v)) +
             "\" stroke=\"white\"/>\n";
        s += "<text x=\"" + num(x + cw / 2) + "\" y=\"" + num(y + ch / 2 + 4) +
             "\" text-anchor=\"middle\" font-size=\"10\">" +
             (!known ? std::string("-") : fmt(b ? "%+.0f" : "%.0f", 100.0 * v)) + "</text>\n";
      }
    for (std::size_t l = 0; l < lengths.size(); ++l)
      s += "<text x=\"" + num(x0 + cw * static_cast<int>(l) + cw / 2) + "\" y=\"" +
           num(top + gh + 14) + "\" text-anchor=\"middle\" font-size=\"10\">" +
           std::to_string(lengths[l]) + "</text>\n";
    s += "<text x=\"" + num(x0 + pw / 2) + "\" y=\"" + num(top + gh + 34) +
         "\" text-anchor=\"middle\" font-size=\"11\">length (tokens)</text>\n";
  }
  return s + "</svg>\n";
}

}  // namespace eval
