// examples/position_writers.hpp - shiftrope-positions' outputs: the
// position matrix as aligned text, CSV or an SVG heatmap, and the frequency
// view (trained pairs per distance against the distances RoPE and STRING
// use) as text, CSV or an SVG plot.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <ostream>
#include <shiftrope/position_map.hpp>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "cli.hpp"
#include "eval/frequency.hpp"
#include "eval/train_stream.hpp"
#include "position_options.hpp"

namespace positions_cli {

// ---- shared ----

/// "STRING S=3 W=0 L=9 (max position 5)" or "RoPE L=9 (max position 8)".
inline std::string title(const options& o) {
  std::string t;
  if (const auto* s = std::get_if<shiftrope::string_remap>(&o.map))
    t = "STRING S=" + str(s->shift) + " W=" + str(s->window);
  else
    t = "RoPE";
  return t + " L=" + str(o.length) + " (max position " +
         str(shiftrope::max_position(o.map, o.length)) + ")";
}

/// Appends v in decimal.
inline void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

// ---- text ----

inline void write_text(std::ostream& out, const options& o) {
  const std::string width_probe = str(shiftrope::max_position(o.map, o.length));
  const std::size_t width = width_probe.size();
  out << title(o) << '\n';
  std::string row;
  for (std::int64_t m = 0; m < o.length; ++m) {
    row.clear();
    for (std::int64_t n = 0; n <= m; ++n) {
      const std::string v = str(shiftrope::relative_position(o.map, m, n));
      if (n > 0) row += ' ';
      row.append(width - v.size(), ' ');
      row += v;
    }
    row += '\n';
    out << row;
  }
}

// ---- csv ----

inline void write_csv(std::ostream& out, const options& o) {
  std::string row;  // one row at a time: never the L × L matrix
  for (std::int64_t m = 0; m < o.length; ++m) {
    row.clear();
    for (std::int64_t n = 0; n < o.length; ++n) {
      if (n > 0) row += ',';
      append_int(row, n <= m ? shiftrope::relative_position(o.map, m, n) : -1);
    }
    row += '\n';
    out.write(row.data(), static_cast<std::streamsize>(row.size()));
  }
}

// ---- svg ----

/// Largest f(d) over the distances [lo, hi] (0 <= lo <= hi), in closed form:
/// a downsampled cell's distances form one such interval.
inline std::int64_t max_over(const shiftrope::identity_remap&, std::int64_t, std::int64_t hi) {
  return hi;
}

inline std::int64_t max_over(const shiftrope::string_remap& r, std::int64_t lo, std::int64_t hi) {
  // f increases on [0, S) and on [S, inf): the maximum sits at the top of
  // either piece that the interval touches.
  std::int64_t best = -1;
  if (lo < r.shift) best = r(std::min(hi, r.shift - 1));
  if (hi >= r.shift) best = std::max(best, r(hi));
  return best;
}

/// The largest position among the causal pairs of rows [m0, m1) × keys
/// [n0, n1), or -1 when the block lies wholly above the diagonal.
inline std::int64_t cell_max(const shiftrope::remap& map, std::int64_t m0, std::int64_t m1,
                             std::int64_t n0, std::int64_t n1) {
  const std::int64_t hi = (m1 - 1) - n0;
  if (hi < 0) return -1;
  const std::int64_t lo = std::max<std::int64_t>(0, m0 - (n1 - 1));
  return std::visit([&](const auto& r) { return max_over(r, lo, hi); }, map);
}

/// Perceptual colour scale (viridis, 9 evenly spaced stops), t in [0, 1].
constexpr std::array<std::array<int, 3>, 9> kScale = {{{0x44, 0x01, 0x54},
                                                       {0x47, 0x2d, 0x7b},
                                                       {0x3b, 0x52, 0x8b},
                                                       {0x2c, 0x72, 0x8e},
                                                       {0x21, 0x91, 0x8c},
                                                       {0x28, 0xae, 0x80},
                                                       {0x5e, 0xc9, 0x62},
                                                       {0xad, 0xdc, 0x30},
                                                       {0xfd, 0xe7, 0x25}}};
constexpr const char* kMaskedColour = "#d9d9d9";  // n > m

inline std::string colour(double t) {
  t = std::clamp(t, 0.0, 1.0) * static_cast<double>(kScale.size() - 1);
  const auto i = std::min(static_cast<std::size_t>(t), kScale.size() - 2);
  const double f = t - static_cast<double>(i);
  char buf[8];
  int rgb[3];
  for (int c = 0; c < 3; ++c)
    rgb[c] = static_cast<int>(std::lround(kScale[i][c] * (1 - f) + kScale[i + 1][c] * f));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buf;
}

inline std::string num(double x) {
  return cli::number(x);
}

/// text escaped for SVG character data.
inline std::string xml_text(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

// Layout, in pixels.
constexpr double kPlot = 512, kLeft = 70, kTop = 70, kLegendGap = 30, kBarWidth = 18;
constexpr double kWidth = kLeft + kPlot + kLegendGap + kBarWidth + 110, kHeight = kTop + kPlot + 40;

inline void write_svg_legend(std::ostream& out, std::int64_t max_pos) {
  const double x = kLeft + kPlot + kLegendGap;
  out << "<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n";
  for (std::size_t i = 0; i < kScale.size(); ++i) {
    const double t = static_cast<double>(i) / static_cast<double>(kScale.size() - 1);
    out << "<stop offset=\"" << num(t) << "\" stop-color=\"" << colour(t) << "\"/>\n";
  }
  out << "</linearGradient></defs>\n";
  out << "<rect x=\"" << num(x) << "\" y=\"" << num(kTop) << "\" width=\"" << num(kBarWidth)
      << "\" height=\"" << num(kPlot) << "\" fill=\"url(#scale)\" stroke=\"#333\"/>\n";
  // Labels at 0, 1/4, ..., max (rounded; repeated values printed once).
  std::int64_t last = -1;
  for (int k = 0; k <= 4; ++k) {
    const auto v = static_cast<std::int64_t>(std::llround(static_cast<double>(max_pos) * k / 4.0));
    if (v == last) continue;
    last = v;
    const double y = kTop + kPlot - (max_pos > 0 ? kPlot * static_cast<double>(v) / max_pos : 0);
    out << "<line x1=\"" << num(x + kBarWidth) << "\" x2=\"" << num(x + kBarWidth + 5) << "\" y1=\""
        << num(y) << "\" y2=\"" << num(y) << "\" stroke=\"#333\"/>\n";
    out << "<text x=\"" << num(x + kBarWidth + 8) << "\" y=\"" << num(y + 4) << "\">" << v
        << "</text>\n";
  }
  out << "<text x=\"" << num(x) << "\" y=\"" << num(kTop - 10) << "\">position</text>\n";
  out << "<rect x=\"" << num(x) << "\" y=\"" << num(kTop + kPlot + 12) << "\" width=\"12\" "
      << "height=\"12\" fill=\"" << kMaskedColour << "\"/>\n";
  out << "<text x=\"" << num(x + 16) << "\" y=\"" << num(kTop + kPlot + 22)
      << "\">n &gt; m</text>\n";
}

inline void write_svg(std::ostream& out, const options& o) {
  const std::int64_t cell = (o.length + kMaxSvgCells - 1) / kMaxSvgCells;  // tokens per side
  const std::int64_t grid = (o.length + cell - 1) / cell;                  // cells per side
  const std::int64_t max_pos = shiftrope::max_position(o.map, o.length);
  const double px = kPlot / static_cast<double>(grid);
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(kWidth) << "\" height=\""
      << num(kHeight) << "\" viewBox=\"0 0 " << num(kWidth) << ' ' << num(kHeight)
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out << "<title>" << title(o) << "</title>\n";
  out << "<text x=\"" << num(kLeft) << "\" y=\"22\" font-size=\"15\">" << title(o) << "</text>\n";
  out << "<text x=\"" << num(kLeft) << "\" y=\"40\">colour: f(m - n)"
      << (cell > 1 ? ", the largest in each cell of " + str(cell) + " x " + str(cell) + " tokens"
                   : std::string())
      << "</text>\n";
  out << "<text x=\"" << num(kLeft) << "\" y=\"" << num(kTop - 6) << "\">key n: 0 .. "
      << o.length - 1 << "</text>\n";
  out << "<text transform=\"translate(" << num(kLeft - 8) << ' ' << num(kTop)
      << ") rotate(-90)\" text-anchor=\"end\">query m: 0 .. " << o.length - 1 << "</text>\n";
  out << "<g transform=\"translate(" << num(kLeft) << ' ' << num(kTop) << ") scale(" << num(px)
      << ")\" shape-rendering=\"crispEdges\">\n";
  std::string line;
  for (std::int64_t i = 0; i < grid; ++i) {
    const std::int64_t m0 = i * cell, m1 = std::min(m0 + cell, o.length);
    for (std::int64_t j = 0; j < grid; ++j) {
      const std::int64_t n0 = j * cell, n1 = std::min(n0 + cell, o.length);
      const std::int64_t v = cell_max(o.map, m0, m1, n0, n1);
      line = "<rect class=\"c\" x=\"" + str(j) + "\" y=\"" + str(i) +
             "\" width=\"1\" height=\"1\" fill=\"" +
             (v < 0 ? std::string(kMaskedColour)
                    : colour(max_pos > 0 ? static_cast<double>(v) / max_pos : 0.0)) +
             "\" data-v=\"" + str(v) + "\"/>\n";
      out << line;
    }
  }
  out << "</g>\n";
  write_svg_legend(out, max_pos);
  out << "</svg>\n";
}

// ---- frequency ----

/// What the frequency view shows: trained(d), the inference pairs per
/// position of RoPE and STRING, the threshold, and where the counts came from.
struct frequency_data {
  std::vector<std::uint64_t> trained, rope, string;
  std::uint64_t below = 0;
  std::string source;  // one line: the documents
};

// Document lengths from a file: one per line, '#' comments, blank lines.
inline std::vector<std::int64_t> read_doc_lengths(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw cli::cli_error("--docs", "cannot open " + cli::quoted(path));
  constexpr std::size_t kMaxDocs = 10'000'000;
  std::vector<std::int64_t> out;
  std::string line;
  for (std::int64_t number = 1; std::getline(in, line); ++number) {
    const std::size_t a = line.find_first_not_of(" \t\r");
    if (a == std::string::npos || line[a] == '#') continue;
    const std::size_t b = line.find_last_not_of(" \t\r");
    if (out.size() == kMaxDocs)
      throw cli::cli_error("--docs", path + ": more than " + str(kMaxDocs) + " documents");
    try {
      out.push_back(cli::parse_int<std::int64_t>(
          "length", std::string_view(line).substr(a, b - a + 1), 1, kMaxLength));
    } catch (const cli::cli_error& e) {
      throw cli::cli_error("--docs", path + ":" + str(number) + ": " + e.what());
    }
  }
  if (in.bad()) throw cli::cli_error("--docs", "reading " + cli::quoted(path) + " failed");
  if (out.empty()) throw cli::cli_error("--docs", path + ": no document lengths");
  return out;
}

inline frequency_data frequency_for(const options& o) {
  frequency_data f;
  const std::int64_t L = o.length;
  if (o.freq.docs == "full") {
    const std::int64_t n = o.freq.sequences.value_or(1);
    f.trained = eval::trained_pairs_full(L, static_cast<std::uint64_t>(n));
    f.source = str(n) + " full-length sequence(s) of " + str(L) + " tokens";
  } else if (o.freq.docs == "train") {
    eval::train_stream_params p;
    p.seq_len = L;
    p.sequences = o.freq.sequences.value_or(p.sequences);
    if (p.sequences > 100'000)
      std::fprintf(stderr, "shiftrope-positions: replaying %lld training sequences...\n",
                   static_cast<long long>(p.sequences));
    const eval::train_stream_stats t = eval::replay_train_stream(p);
    f.trained = eval::trained_pairs(t.doc_lengths, L);
    f.source = "tools/train's stream (seed 1, " + str(p.sequences) + " sequences of " + str(L) +
               ": " + str(static_cast<std::int64_t>(t.doc_lengths.size())) + " documents, " +
               str(t.drill_sequences) + " drill sequences)";
  } else {
    const std::vector<std::int64_t> lengths = read_doc_lengths(o.freq.docs);
    f.trained = eval::trained_pairs(lengths, L);
    f.source = str(static_cast<std::int64_t>(lengths.size())) + " document(s) from " + o.freq.docs;
  }
  f.rope = eval::inference_pairs(shiftrope::identity_remap{}, L);
  f.string = eval::inference_pairs(o.map, L);
  f.below = o.freq.below_percent < 0
                ? o.freq.below_count
                : static_cast<std::uint64_t>(
                      std::ceil(o.freq.below_percent / 100.0 * static_cast<double>(f.trained[0])));
  return f;
}

/// "STRING S=256 W=64".
inline std::string string_name(const options& o) {
  const auto& s = std::get<shiftrope::string_remap>(o.map);
  return "STRING S=" + str(s.shift) + " W=" + str(s.window);
}

inline std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * x);
  return buf;
}

/// The summary lines shared by text and svg.
inline std::vector<std::string> frequency_summary(const options& o, const frequency_data& f) {
  const std::int64_t L = o.length;
  const std::size_t rare = eval::first_rare_distance(f.trained, f.below);
  const std::uint64_t pairs = static_cast<std::uint64_t>(L) * static_cast<std::uint64_t>(L + 1) / 2;
  std::string threshold = "rare: trained fewer than " + std::to_string(f.below) + " times";
  if (o.freq.below_percent >= 0)
    threshold += " (" + cli::number(o.freq.below_percent) + "% of trained(0))";
  threshold +=
      rare < f.trained.size() ? ": distances >= " + std::to_string(rare) : ": no distance below L";
  return {"trained(d): pairs (i, j), i - j = d < L = " + str(L) + ", inside one document",
          "documents: " + f.source,
          "inference on one sequence of " + str(L) + " tokens (" + std::to_string(pairs) +
              " causal pairs): RoPE uses distances 0.." + str(L - 1) + ", " + string_name(o) +
              " uses 0.." + str(shiftrope::max_position(o.map, L)),
          threshold,
          "share of inference pairs at rare distances: RoPE " +
              percent(eval::share_below(f.rope, f.trained, f.below)) + ", " + string_name(o) + " " +
              percent(eval::share_below(f.string, f.trained, f.below))};
}

inline void write_frequency_text(std::ostream& out, const options& o, const frequency_data& f) {
  for (const std::string& line : frequency_summary(o, f)) out << line << '\n';
  const std::int64_t step = std::max<std::int64_t>(1, o.length / 16);
  out << "distance  trained  rope_pairs  string_pairs\n";
  for (std::int64_t d = 0; d < o.length; d += step) {
    const auto i = static_cast<std::size_t>(d);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%8lld  %7llu  %10llu  %12llu\n", static_cast<long long>(d),
                  static_cast<unsigned long long>(f.trained[i]),
                  static_cast<unsigned long long>(f.rope[i]),
                  static_cast<unsigned long long>(f.string[i]));
    out << buf;
  }
}

inline void write_frequency_csv(std::ostream& out, const frequency_data& f) {
  out << "distance,trained,rope_pairs,string_pairs\n";
  std::string row;
  for (std::size_t d = 0; d < f.trained.size(); ++d) {
    row.clear();
    append_int(row, static_cast<std::int64_t>(d));
    row += ',' + std::to_string(f.trained[d]) + ',' + std::to_string(f.rope[d]) + ',' +
           std::to_string(f.string[d]) + '\n';
    out << row;
  }
}

// The plot: trained(d) against d (linear axes), the threshold, the rare
// distances shaded, and under it the two inference ranges as bars.
inline void write_frequency_svg(std::ostream& out, const options& o, const frequency_data& f) {
  constexpr double pw = 720, ph = 300, left = 90, top = 122, w = left + pw + 90, h = top + ph + 150;
  const std::int64_t L = o.length;
  const double ymax = static_cast<double>(std::max<std::uint64_t>(f.trained[0], 1));
  const auto x_of = [&](double d) {
    return left + pw * d / static_cast<double>(std::max<std::int64_t>(L - 1, 1));
  };
  const auto y_of = [&](double v) { return top + ph - ph * v / ymax; };
  const std::vector<std::string> lines = frequency_summary(o, f);
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(w) << "\" height=\"" << num(h)
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out << "<title>position frequency: " << string_name(o) << " L=" << L << "</title>\n";
  out << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (std::size_t i = 0; i < lines.size(); ++i)
    out << "<text x=\"10\" y=\"" << num(20 + 18 * static_cast<double>(i)) << "\""
        << (i == 0 ? " font-size=\"13\"" : "") << ">" << xml_text(lines[i]) << "</text>\n";
  const std::size_t rare = eval::first_rare_distance(f.trained, f.below);
  if (rare < f.trained.size())
    out << "<rect class=\"rare\" data-from=\"" << rare << "\" x=\""
        << num(x_of(static_cast<double>(rare))) << "\" y=\"" << num(top) << "\" width=\""
        << num(left + pw - x_of(static_cast<double>(rare))) << "\" height=\"" << num(ph)
        << "\" fill=\"#fbe3e3\"/>\n";
  out << "<rect x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(pw)
      << "\" height=\"" << num(ph) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  // The curve, at most 1024 points (every k-th distance, and the last).
  const std::int64_t k = (L + 1023) / 1024;
  out << "<polyline class=\"trained\" fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"2\" "
         "points=\"";
  for (std::int64_t d = 0; d < L; d += k)
    out << num(x_of(static_cast<double>(d))) << ','
        << num(y_of(static_cast<double>(f.trained[static_cast<std::size_t>(d)]))) << ' ';
  out << num(x_of(static_cast<double>(L - 1))) << ','
      << num(y_of(static_cast<double>(f.trained.back()))) << "\"/>\n";
  const double ty = y_of(std::min(static_cast<double>(f.below), ymax));
  out << "<line class=\"threshold\" data-count=\"" << f.below << "\" x1=\"" << num(left)
      << "\" x2=\"" << num(left + pw) << "\" y1=\"" << num(ty) << "\" y2=\"" << num(ty)
      << "\" stroke=\"#c62d2d\" stroke-dasharray=\"6 4\"/>\n";
  out << "<text x=\"" << num(left + pw - 4) << "\" y=\"" << num(ty - 5)
      << "\" text-anchor=\"end\" fill=\"#c62d2d\">rare: &lt; " << f.below << "</text>\n";
  // Axes: 0, ymax on y; 0, L/4, ..., L - 1 on x.
  out << "<text x=\"" << num(left - 6) << "\" y=\"" << num(top + 4) << "\" text-anchor=\"end\">"
      << f.trained[0] << "</text>\n";
  out << "<text x=\"" << num(left - 6) << "\" y=\"" << num(top + ph + 4)
      << "\" text-anchor=\"end\">0</text>\n";
  out << "<text x=\"" << num(left - 60) << "\" y=\"" << num(top + ph / 2)
      << "\" transform=\"rotate(-90 " << num(left - 60) << ' ' << num(top + ph / 2)
      << ")\" text-anchor=\"middle\">trained pairs</text>\n";
  for (int q = 0; q <= 4; ++q) {
    const std::int64_t d = q == 4 ? L - 1 : L * q / 4;
    out << "<text x=\"" << num(x_of(static_cast<double>(d))) << "\" y=\"" << num(top + ph + 16)
        << "\" text-anchor=\"middle\">" << d << "</text>\n";
  }
  out << "<text x=\"" << num(left + pw / 2) << "\" y=\"" << num(top + ph + 34)
      << "\" text-anchor=\"middle\">relative distance d</text>\n";
  // The inference ranges: a label line, then the bar.
  const struct {
    const char* cls;
    std::string name;
    std::int64_t to;
    const std::vector<std::uint64_t>* pairs;
    const char* colour;
  } ranges[2] = {
      {"rope", "RoPE", L - 1, &f.rope, "#888888"},
      {"string", string_name(o), shiftrope::max_position(o.map, L), &f.string, "#2a9d5c"}};
  for (int r = 0; r < 2; ++r) {
    const double y = top + ph + 60 + 40 * r;
    out << "<text x=\"" << num(left) << "\" y=\"" << num(y - 4) << "\">" << xml_text(ranges[r].name)
        << " at inference: distances 0.." << ranges[r].to << ", "
        << percent(eval::share_below(*ranges[r].pairs, f.trained, f.below))
        << " of the pairs at rare distances</text>\n";
    out << "<rect class=\"range\" data-method=\"" << ranges[r].cls
        << "\" data-from=\"0\" data-to=\"" << ranges[r].to << "\" x=\"" << num(left) << "\" y=\""
        << num(y) << "\" width=\"" << num(x_of(static_cast<double>(ranges[r].to)) - left)
        << "\" height=\"12\" fill=\"" << ranges[r].colour << "\"/>\n";
  }
  out << "</svg>\n";
}

}  // namespace positions_cli
