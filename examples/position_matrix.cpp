// examples/position_matrix.cpp - shiftrope-positions: the relative-position
// matrix f(m - n) a position remap (STRING or plain RoPE) produces for a
// causal sequence, as aligned text (the paper's Figure 5), CSV or an SVG
// heatmap; with --frequency, the paper's position-frequency analysis (how
// often training saw each distance, which distances RoPE and STRING use at
// inference) as text, CSV or an SVG plot. Run with --help for the flags.
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

namespace {

constexpr const char* kProgram = "shiftrope-positions";

constexpr const char* kHelp =
    R"HELP(usage: shiftrope-positions --length L (--shift S | --ratio R | --rope) [--window W]
                           [--format text|csv|svg] [--output FILE]
       shiftrope-positions --frequency --length L [--shift S | --ratio R] [--window W]
                           [--docs full|train|FILE] [--sequences N] [--below C]
                           [--format text|csv|svg] [--output FILE]

Prints the relative position f(m - n) that the score of query m and key n
sees (keys n <= m; causal), for STRING (An et al., ICLR 2025) or plain RoPE:
  STRING: f(d) = d if d < S, d - S + W if d >= S;   RoPE: f(d) = d.

Remap (exactly one):
  --shift S     STRING with shift S, 1 <= S < L.
  --ratio R     STRING with S = floor(R * L), 0 < R < 1 (the paper uses 0.33).
  --rope        plain RoPE (no --window).
  --window W    STRING's local window, 0 <= W < S. Default: the paper's 128,
                lowered to S - 1 when S <= 128 (so W < S always holds).

Sequence and output:
  --length L    sequence length (training length), 1 <= L <= 2^40.
  --format F    text (default): the lower triangle, row m lists n = 0..m,
                right-aligned, under a header such as
                "STRING S=3 W=0 L=9 (max position 5)"; L <= 64.
                csv: L rows of L comma-separated integers, -1 above the
                diagonal (n > m); no header; L <= 4096; streamed row by row.
                svg: a heatmap, one cell per (m, n) up to L = 256; beyond,
                cells of c x c tokens with c = ceil(L / 256), each showing
                the LARGEST position inside it; grey above the diagonal; a
                colour scale legend from 0 to the maximum position. Needs
                --output. Each cell is <rect class="c" ... data-v="value"/>
                (value -1 above the diagonal).
  --output FILE write there instead of standard output (required for svg).
  --help, -h    this text.

Frequency view (the paper's §2: distance d is trained far less often than
small distances, so the largest ones are under-trained):
  --frequency   instead of the matrix: trained(d), the number of token pairs
                (i, j), i - j = d, inside one training document, for each
                d < L; the distances that RoPE (0..L-1) and STRING (given
                --shift/--ratio and --window; default the paper's
                S = floor(0.33 L)) use on a sequence of L tokens; and the share
                of their L (L + 1) / 2 pairs that fall on distances trained
                fewer than C times. L <= 2^20.
  --docs D      full (default): sequences of L tokens, trained(d) = N (L - d);
                train: tools/train's training stream replayed draw for draw
                (seed 1, documents of 197 + exponential(mean 128) tokens,
                packed, a quarter of the sequences drills; needs L >= 197);
                FILE: document lengths, one per line ('#' comments and blank
                lines skipped); a document longer than L counts as pieces of L.
  --sequences N full: N sequences (default 1); train: the first N sequences
                of the stream (default 9644, the shipped run's 2,411 steps x 4).
  --below C     a count, or P% of trained(0) (default 5%).
  Output: text (a summary and trained(d) every L/16), csv (distance,trained,
  rope_pairs,string_pairs: one row per distance; *_pairs = inference pairs
  scored at that position) or svg (the curve trained(d), the threshold, and
  the two inference ranges; needs --output).

Examples:
  shiftrope-positions --length 9 --shift 3 --window 0        (Figure 5 b)
  shiftrope-positions --frequency --length 512 --docs train --shift 256 --window 64
  shiftrope-positions --length 131072 --ratio 0.33 --format svg --output llama31.svg

Exit status: 0 on success, 2 on a bad flag or value (one line on stderr
naming the flag), 1 if writing the output fails.
)HELP";

constexpr std::int64_t kMaxLength = shiftrope::max_positions;
constexpr std::int64_t kMaxTextLength = 64;
constexpr std::int64_t kMaxCsvLength = 4096;
constexpr std::int64_t kMaxSvgCells = 256;  // per side
constexpr std::int64_t kMaxFrequencyLength = std::int64_t{1} << 20;
constexpr std::int64_t kMaxSequences = std::int64_t{1} << 40;  // full: N (L - d) < 2^64
constexpr std::int64_t kMaxTrainSequences = std::int64_t{1}
                                            << 22;  // train: replayed, ~1 s per 10^5

/// --frequency: where the trained distances come from.
struct frequency_options {
  bool on = false;
  std::string docs = "full";              ///< full | train | a file of lengths
  std::optional<std::int64_t> sequences;  ///< --sequences
  std::uint64_t below_count = 0;          ///< --below C (when not a percentage)
  double below_percent = 5;               ///< --below P% (of trained(0)); < 0 when a count
};

struct options {
  std::int64_t length = 0;            ///< L
  shiftrope::remap map;               ///< identity or STRING
  std::string format = "text";        ///< text | csv | svg
  std::optional<std::string> output;  ///< file; standard output when empty
  frequency_options freq;
};

// ---- flags ----

std::string str(std::int64_t v) {
  return std::to_string(v);
}

shiftrope::string_remap parse_string_remap(const cli::args& a, std::int64_t length) {
  shiftrope::string_remap::setting setting;
  if (a.has("--shift"))
    setting.shift = a.get_int<std::int64_t>("--shift", 1, shiftrope::max_positions);
  else
    setting.ratio = cli::parse_double("--ratio", a.required("--ratio"));
  if (a.has("--window"))
    setting.window = a.get_int<std::int64_t>("--window", 0, shiftrope::max_positions);
  return cli::string_remap_for(length, setting, a.has("--shift") ? "--shift" : "--ratio",
                               "--window", " (L = --length = " + str(length) + ")");
}

void check_length_for_format(const options& o) {
  if (o.format == "text" && o.length > kMaxTextLength)
    throw cli::cli_error("--length", str(o.length) + " is too large for --format text (at most " +
                                         str(kMaxTextLength) + "); use --format csv or svg");
  if (o.format == "csv" && o.length > kMaxCsvLength)
    throw cli::cli_error("--length", str(o.length) + " is too large for --format csv (at most " +
                                         str(kMaxCsvLength) + "); use --format svg");
}

// --below: a count, or a percentage of trained(0) ("5%").
void parse_below(const cli::args& a, frequency_options& f) {
  const std::string text = a.value("--below").value_or("5%");
  if (!text.empty() && text.back() == '%') {
    f.below_percent =
        cli::parse_double("--below", std::string_view(text).substr(0, text.size() - 1));
    if (!(f.below_percent > 0.0 && f.below_percent <= 100.0))
      throw cli::cli_error("--below", "a percentage must be in (0, 100], got " + cli::quoted(text));
    return;
  }
  f.below_percent = -1;
  f.below_count = cli::parse_int<std::uint64_t>("--below", text, 1, UINT64_MAX);
}

// The flags of the frequency view (after --length).
options parse_frequency(const cli::args& a, options& o) {
  o.freq.on = true;
  if (o.length > kMaxFrequencyLength || o.length < 2)
    throw cli::cli_error("--length", "must be in [2, " + str(kMaxFrequencyLength) +
                                         "] with --frequency, got " + str(o.length));
  if (a.has("--rope"))
    throw cli::cli_error("--rope",
                         "the frequency view always shows RoPE; give STRING's --shift "
                         "or --ratio, or neither for the paper's default");
  if (a.has("--shift") || a.has("--ratio")) {
    o.map = parse_string_remap(a, o.length);
  } else if (a.has("--window")) {
    throw cli::cli_error("--window", "needs --shift or --ratio");
  } else if (o.length < 4) {
    throw cli::cli_error("--length", "the paper's S = floor(0.33 L) needs L >= 4, got " +
                                         str(o.length) + " (give --shift)");
  } else {
    o.map = shiftrope::string_remap::paper_default(o.length);
  }
  o.freq.docs = a.value("--docs").value_or("full");
  if (o.freq.docs.empty()) throw cli::cli_error("--docs", "empty file name");
  if (o.freq.docs == "train" && o.length < eval::detail::fixed_len())
    throw cli::cli_error("--docs", "train needs --length >= " + str(eval::detail::fixed_len()) +
                                       " (the documents' fixed part), got " + str(o.length));
  if (a.has("--sequences")) {
    if (o.freq.docs != "full" && o.freq.docs != "train")
      throw cli::cli_error("--sequences", "applies to --docs full or train, not to a file");
    o.freq.sequences = a.get_int<std::int64_t>(
        "--sequences", 1, o.freq.docs == "train" ? kMaxTrainSequences : kMaxSequences);
  }
  parse_below(a, o.freq);
  o.output = a.value("--output");
  if (o.output && o.output->empty()) throw cli::cli_error("--output", "empty file name");
  if (o.format == "svg" && !o.output)
    throw cli::cli_error("--output", "required with --format svg");
  return o;
}

options parse_options(int argc, const char* const* argv) {
  const cli::args a(argc, argv,
                    {{"--length", true},
                     {"--shift", true},
                     {"--ratio", true},
                     {"--window", true},
                     {"--rope", false},
                     {"--format", true},
                     {"--output", true},
                     {"--frequency", false},
                     {"--docs", true},
                     {"--sequences", true},
                     {"--below", true}});
  options o;
  o.format = a.get_choice("--format", {"text", "csv", "svg"}, "text");
  a.exclusive("--shift", "--ratio");
  a.exclusive("--shift", "--rope");
  a.exclusive("--ratio", "--rope");
  o.length = a.get_int<std::int64_t>("--length", 1, kMaxLength);
  if (a.has("--frequency")) return parse_frequency(a, o);
  for (const char* flag : {"--docs", "--sequences", "--below"})
    if (a.has(flag)) throw cli::cli_error(flag, "only with --frequency");
  check_length_for_format(o);
  if (a.has("--rope")) {
    if (a.has("--window"))
      throw cli::cli_error("--window", "applies to STRING (--shift or --ratio), not to --rope");
    o.map = shiftrope::identity_remap{};
  } else if (a.has("--shift") || a.has("--ratio")) {
    o.map = parse_string_remap(a, o.length);
  } else {
    throw cli::cli_error("--shift", "no remap chosen: give --shift S, --ratio R or --rope");
  }
  o.output = a.value("--output");
  if (o.output && o.output->empty()) throw cli::cli_error("--output", "empty file name");
  if (o.format == "svg" && !o.output)
    throw cli::cli_error("--output", "required with --format svg");
  return o;
}

// ---- shared ----

/// "STRING S=3 W=0 L=9 (max position 5)" or "RoPE L=9 (max position 8)".
std::string title(const options& o) {
  std::string t;
  if (const auto* s = std::get_if<shiftrope::string_remap>(&o.map))
    t = "STRING S=" + str(s->shift) + " W=" + str(s->window);
  else
    t = "RoPE";
  return t + " L=" + str(o.length) + " (max position " +
         str(shiftrope::max_position(o.map, o.length)) + ")";
}

/// Appends v in decimal.
void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

// ---- text ----

void write_text(std::ostream& out, const options& o) {
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

void write_csv(std::ostream& out, const options& o) {
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
std::int64_t max_over(const shiftrope::identity_remap&, std::int64_t, std::int64_t hi) {
  return hi;
}

std::int64_t max_over(const shiftrope::string_remap& r, std::int64_t lo, std::int64_t hi) {
  // f increases on [0, S) and on [S, inf): the maximum sits at the top of
  // either piece that the interval touches.
  std::int64_t best = -1;
  if (lo < r.shift) best = r(std::min(hi, r.shift - 1));
  if (hi >= r.shift) best = std::max(best, r(hi));
  return best;
}

/// The largest position among the causal pairs of rows [m0, m1) × keys
/// [n0, n1), or -1 when the block lies wholly above the diagonal.
std::int64_t cell_max(const shiftrope::remap& map, std::int64_t m0, std::int64_t m1,
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

std::string colour(double t) {
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

std::string num(double x) {
  return cli::number(x);
}

/// text escaped for SVG character data.
std::string xml_text(const std::string& text) {
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

void write_svg_legend(std::ostream& out, std::int64_t max_pos) {
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

void write_svg(std::ostream& out, const options& o) {
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
std::vector<std::int64_t> read_doc_lengths(const std::string& path) {
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

frequency_data frequency_for(const options& o) {
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
      std::fprintf(stderr, "%s: replaying %lld training sequences...\n", kProgram,
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
std::string string_name(const options& o) {
  const auto& s = std::get<shiftrope::string_remap>(o.map);
  return "STRING S=" + str(s.shift) + " W=" + str(s.window);
}

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * x);
  return buf;
}

/// The summary lines shared by text and svg.
std::vector<std::string> frequency_summary(const options& o, const frequency_data& f) {
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

void write_frequency_text(std::ostream& out, const options& o, const frequency_data& f) {
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

void write_frequency_csv(std::ostream& out, const frequency_data& f) {
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
void write_frequency_svg(std::ostream& out, const options& o, const frequency_data& f) {
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

int run(int argc, const char* const* argv) {
  const options o = parse_options(argc, argv);
  std::optional<frequency_data> freq;  // computed first: a bad --docs file leaves no output file
  if (o.freq.on) freq = frequency_for(o);
  std::ofstream file;
  if (o.output) {
    file.open(*o.output, std::ios::binary | std::ios::trunc);
    if (!file)
      throw cli::cli_error("--output", "cannot open " + cli::quoted(*o.output) + " for writing");
  }
  std::ostream& out = o.output ? static_cast<std::ostream&>(file) : std::cout;
  if (freq) {
    const frequency_data& f = *freq;
    if (o.format == "text")
      write_frequency_text(out, o, f);
    else if (o.format == "csv")
      write_frequency_csv(out, f);
    else
      write_frequency_svg(out, o, f);
  } else if (o.format == "text")
    write_text(out, o);
  else if (o.format == "csv")
    write_csv(out, o);
  else
    write_svg(out, o);
  out.flush();
  if (!out)
    throw std::runtime_error("writing " + (o.output ? cli::quoted(*o.output) : "stdout") +
                             " failed");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::wants_help(argc, argv)) {
    std::fputs(kHelp, stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  return cli::run(kProgram, [&] { return run(argc, argv); });
}
