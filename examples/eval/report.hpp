// examples/eval/report.hpp - what a sweep prints: JSON lines (one per
// scored generation), the accuracy table (length × method), the same with
// 95% intervals and each method's difference to a baseline (stats.hpp), the
// effective length per method, and one SVG heatmap per method (depth ×
// length, colour = accuracy, values in cells).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "../json.hpp"
#include "stats.hpp"
#include "sweep.hpp"

namespace eval {

inline std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

/// One JSON line for a scored generation.
inline std::string record_json(const record& r, const method& m, std::string_view task,
                               std::string_view model_name) {
  const prompt& p = *r.p;
  std::string keys, positions;
  for (std::size_t i = 0; i < p.keys.size(); ++i) {
    keys += (i ? "," : "") + json::string(p.keys[i]);
    positions += (i ? "," : "") + std::to_string(p.key_pos[i]);
  }
  const bool single = p.keys.size() == 1;
  std::string s =
      "{\"task\":" + json::string(task) + ",\"model\":" + json::string(model_name) +
      ",\"method\":" + json::string(m.name) + ",\"label\":" + json::string(m.label) +
      ",\"params\":" + m.params_json + ",\"length\":" + std::to_string(p.tokens.size()) +
      ",\"target_length\":" + std::to_string(p.target) + ",\"depth\":" + fmt("%.6g", p.depth) +
      ",\"trial\":" + std::to_string(p.trial) + ",\"key\":" + (single ? keys : "[" + keys + "]") +
      ",\"key_pos\":[" + positions + "],\"output\":" + json::string(r.output);
  if (single) {
    s += std::string(",\"correct\":") + (r.found ? "true" : "false");
  } else {
    s += ",\"found\":" + std::to_string(r.found) + ",\"correct\":" + fmt("%.6g", r.score);
  }
  return s + ",\"fed_tokens\":" + std::to_string(r.fed) + ",\"ms\":" + fmt("%.3f", r.ms) + "}";
}

/// The accuracy table: a row per length (mean prompt tokens beside the
/// target), a column per method, then the overall row. Needles cells show
/// the mean fraction found and, in brackets, the share with >= 2 of 4.
inline std::string accuracy_table(const sweep_results& res, const std::vector<method>& methods,
                                  const std::vector<std::int64_t>& lengths, bool needles) {
  const auto cell_text = [&](const sweep_results::cell& c) {
    if (c.count == 0) return std::string("-");
    std::string t = fmt("%.1f%%", 100.0 * c.score / c.count);
    if (needles) t += " (" + fmt("%.0f%%", 100.0 * c.at_least_half / c.count) + ")";
    return t;
  };
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head{"length", "tokens"};
  for (const method& m : methods) head.push_back(m.label);
  rows.push_back(head);
  for (std::size_t l = 0; l < lengths.size(); ++l) {
    const sweep_results::cell all = res.sum(0, l, l + 1, 0, res.n_depths);
    std::vector<std::string> row{
        std::to_string(lengths[l]),
        all.count ? fmt("%.0f", static_cast<double>(all.tokens) / all.count) : "-"};
    for (std::size_t m = 0; m < methods.size(); ++m)
      row.push_back(cell_text(res.sum(m, l, l + 1, 0, res.n_depths)));
    rows.push_back(row);
  }
  std::vector<std::string> overall{"overall", ""};
  for (std::size_t m = 0; m < methods.size(); ++m)
    overall.push_back(cell_text(res.sum(m, 0, res.n_lengths, 0, res.n_depths)));
  rows.push_back(overall);
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

/// Aligned columns: rows of cells, two spaces between columns.
inline std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()), 0);
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

/// Successes and trials of a cell: passkey cases answered correctly;
/// needles cases with >= 2 of the 4 keys (a yes/no outcome, so that Wilson
/// applies).
struct tally {
  std::int64_t k = 0, n = 0;
};
inline tally tally_of(const sweep_results::cell& c) {
  return {c.at_least_half, c.count};
}

/// The index of the baseline method (the first plain rope), or -1.
inline int baseline_index(const std::vector<method>& methods) {
  for (std::size_t i = 0; i < methods.size(); ++i)
    if (methods[i].name == "rope" && methods[i].logit_scale == 1.0) return static_cast<int>(i);
  return -1;
}

/// Per length (and overall) and method: k/n, the accuracy with its 95%
/// Wilson interval, and, for every method but the baseline, the difference
/// method - baseline in percentage points with Newcombe's interval. Row
/// format (one line each):
///   512  string(S=256,W=64)  196/220  89.1% [84.3, 92.6]  +21.8 [+14.2, +29.1]
inline std::string interval_table(const sweep_results& res, const std::vector<method>& methods,
                                  const std::vector<std::int64_t>& lengths, bool needles) {
  const int base = baseline_index(methods);
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"length", "method", needles ? "n(>=2 of 4)" : "correct", "accuracy [95% CI]",
                  base >= 0 ? "difference to " + methods[static_cast<std::size_t>(base)].label +
                                  " (points) [95% CI]"
                            : std::string()});
  const auto pct = [](double x) { return fmt("%.1f", 100.0 * x); };
  const auto signed_pct = [](double x) { return fmt("%+.1f", 100.0 * x); };
  for (std::size_t l = 0; l <= lengths.size(); ++l) {
    const bool all = l == lengths.size();
    const std::size_t l0 = all ? 0 : l, l1 = all ? lengths.size() : l + 1;
    const tally b = base >= 0
                        ? tally_of(res.sum(static_cast<std::size_t>(base), l0, l1, 0, res.n_depths))
                        : tally{};
    for (std::size_t m = 0; m < methods.size(); ++m) {
      const tally t = tally_of(res.sum(m, l0, l1, 0, res.n_depths));
      const interval w = wilson(t.k, t.n);
      std::vector<std::string> row{
          all ? "overall" : std::to_string(lengths[l]), methods[m].label,
          std::to_string(t.k) + "/" + std::to_string(t.n),
          t.n ? pct(w.value) + "% [" + pct(w.lo) + ", " + pct(w.hi) + "]" : "-"};
      if (base >= 0 && static_cast<int>(m) != base && t.n && b.n) {
        const interval d = newcombe_difference(t.k, t.n, b.k, b.n);
        row.push_back(signed_pct(d.value) + " [" + signed_pct(d.lo) + ", " + signed_pct(d.hi) +
                      "]");
      }
      rows.push_back(row);
    }
  }
  return aligned(rows);
}

/// "effective length (accuracy >= 80% at every length up to it): rope 384,
/// string(S=256,W=64) 512": per method the longest length of the sweep whose
/// accuracy, and that of every shorter length, reaches the threshold
/// (stats.hpp's effective_length); "none" when the shortest misses it.
inline std::string effective_length_line(const sweep_results& res,
                                         const std::vector<method>& methods,
                                         const std::vector<std::int64_t>& lengths,
                                         double threshold) {
  std::string out = "effective length (accuracy >= " + fmt("%g", 100.0 * threshold) +
                    "% at every length up to it):";
  for (std::size_t m = 0; m < methods.size(); ++m) {
    std::vector<double> acc;
    for (std::size_t l = 0; l < lengths.size(); ++l) {
      const tally t = tally_of(res.sum(m, l, l + 1, 0, res.n_depths));
      acc.push_back(t.n ? static_cast<double>(t.k) / static_cast<double>(t.n) : 0.0);
    }
    const std::int64_t e = effective_length(lengths, acc, threshold);
    out += (m ? ", " : " ") + methods[m].label + " " + (e < 0 ? "none" : std::to_string(e));
  }
  return out + "\n";
}

/// text escaped for XML character data and attribute values.
inline std::string xml_escape(std::string_view text) {
  std::string out;
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
      default:
        out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
  }
  return out;
}

/// Fill colour for an accuracy in [0, 1]: red (0) through yellow to green
/// (1), the palette of the NIAH heatmaps.
inline std::string heat_colour(double a) {
  a = std::clamp(a, 0.0, 1.0);
  const double r = a < 0.5 ? 1.0 : 2.0 * (1.0 - a), g = a < 0.5 ? 2.0 * a : 1.0;
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(40 + 200 * r)),
                static_cast<int>(std::lround(40 + 170 * g)), 60);
  return buf;
}

/// One method's heatmap: lengths left to right, depths top (0) to bottom
/// (1), one <rect class="cell"> per (depth, length) with data-* attributes
/// and the accuracy in percent written inside.
inline std::string heatmap_svg(const sweep_results& res, std::size_t m, const std::string& title,
                               const std::vector<std::int64_t>& lengths,
                               const std::vector<double>& depths) {
  constexpr int cw = 64, ch = 28, margin = 70, top = 56, bottom = 56;
  // Wide enough for the title at ~8 px per character of 14 px sans-serif;
  // the grid centred below it.
  const int grid = margin + cw * static_cast<int>(lengths.size()) + 20;
  const int w = std::max(grid, static_cast<int>(title.size()) * 8 + 40);
  const int left = margin + (w - grid) / 2;
  // Tall enough for the rotated "needle depth" label (~90 px) beside few rows.
  const int h = top + std::max(ch * static_cast<int>(depths.size()), 100) + bottom;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w) +
                  "\" height=\"" + std::to_string(h) + "\" font-family=\"sans-serif\">\n";
  s += "<title>" + xml_escape(title) + "</title>\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text class=\"title\" x=\"" + std::to_string(w / 2) +
       "\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">" + xml_escape(title) + "</text>\n";
  for (std::size_t d = 0; d < depths.size(); ++d) {
    const int y = top + ch * static_cast<int>(d);
    s += "<text x=\"" + std::to_string(left - 8) + "\" y=\"" + std::to_string(y + ch / 2 + 4) +
         "\" text-anchor=\"end\" font-size=\"11\">" + fmt("%.2g", depths[d]) + "</text>\n";
    for (std::size_t l = 0; l < lengths.size(); ++l) {
      const sweep_results::cell& c = res.at(m, l, d);
      const double acc = c.count ? c.score / c.count : 0.0;
      const int x = left + cw * static_cast<int>(l);
      s += "<rect class=\"cell\" data-length=\"" + std::to_string(lengths[l]) + "\" data-depth=\"" +
           fmt("%.6g", depths[d]) + "\" data-accuracy=\"" + fmt("%.6g", acc) + "\" x=\"" +
           std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" width=\"" + std::to_string(cw) +
           "\" height=\"" + std::to_string(ch) + "\" fill=\"" +
           (c.count ? heat_colour(acc) : "#dddddd") + "\" stroke=\"white\"/>\n";
      s += "<text x=\"" + std::to_string(x + cw / 2) + "\" y=\"" + std::to_string(y + ch / 2 + 4) +
           "\" text-anchor=\"middle\" font-size=\"11\">" +
           (c.count ? fmt("%.0f", 100.0 * acc) : "-") + "</text>\n";
    }
  }
  const int base = top + ch * static_cast<int>(depths.size());
  for (std::size_t l = 0; l < lengths.size(); ++l)
    s += "<text x=\"" + std::to_string(left + cw * static_cast<int>(l) + cw / 2) + "\" y=\"" +
         std::to_string(base + 16) + "\" text-anchor=\"middle\" font-size=\"11\">" +
         std::to_string(lengths[l]) + "</text>\n";
  s += "<text x=\"" + std::to_string(left + cw * static_cast<int>(lengths.size()) / 2) + "\" y=\"" +
       std::to_string(base + 40) +
       "\" text-anchor=\"middle\" font-size=\"12\">length (tokens)</text>\n";
  const std::string axis_x = std::to_string(left - margin + 16);
  s += "<text x=\"" + axis_x + "\" y=\"" +
       std::to_string(top + std::max(ch * static_cast<int>(depths.size()), 100) / 2) +
       "\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 " + axis_x + " " +
       std::to_string(top + std::max(ch * static_cast<int>(depths.size()), 100) / 2) +
       ")\">needle depth</text>\n";
  return s + "</svg>\n";
}

/// A file-name fragment for a method label: letters, digits, '.', '-'
/// kept, every other run of characters one '_'.
inline std::string slug(std::string_view label) {
  std::string out;
  for (const char c : label) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-';
    if (keep)
      out += c;
    else if (out.empty() || out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

}  // namespace eval
