// Tests of the shiftrope-positions example program, run as a child process:
// CSV, text and SVG output against the STRING formula computed here, and the
// exit code / one-line message for each kind of bad input; the frequency
// view (--frequency) against N (L - d), hand-counted documents and the
// inference pairs of the formula, in CSV, text and SVG.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const std::string kBinary = SHIFTROPE_BIN_DIR "/shiftrope-positions";

// A scratch directory for one test run, removed at the end.
struct scratch_dir {
  fs::path path;
  scratch_dir() {
    path = fs::temp_directory_path() /
           ("shiftrope_positions_test_" + std::to_string(static_cast<long>(::getpid())));
    fs::create_directories(path);
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
};

scratch_dir& scratch() {
  static scratch_dir dir;
  return dir;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct run_result {
  int code = -1;    // exit status, -1 if the child did not exit normally
  std::string out;  // standard output
  std::string err;  // standard error
};

run_result run_cli(const std::vector<std::string>& args) {
  REQUIRE_MESSAGE(fs::exists(kBinary), "the program is not built: ", kBinary);
  const fs::path out = scratch().path / "stdout.txt", err = scratch().path / "stderr.txt";
  std::string cmd = shell_quote(kBinary);
  for (const std::string& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
  const int status = std::system(cmd.c_str());
  run_result r;
  if (status != -1 && WIFEXITED(status)) r.code = WEXITSTATUS(status);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (const char c : text) {
    if (c == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

// Whitespace-separated integers; false if anything else is found.
bool parse_ints(const std::string& text, char sep, std::vector<std::int64_t>& out) {
  out.clear();
  for (const std::string& tok : split(text, sep)) {
    if (tok.empty()) {
      if (sep == ' ') continue;  // alignment padding
      return false;
    }
    std::int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (ec != std::errc() || ptr != tok.data() + tok.size()) return false;
    out.push_back(v);
  }
  return true;
}

// The formula, written here: -1 above the diagonal, d below S, d - S + W from S on.
// shift = 0 means plain RoPE.
std::int64_t expected(std::int64_t m, std::int64_t n, std::int64_t shift, std::int64_t window) {
  if (n > m) return -1;
  const std::int64_t d = m - n;
  if (shift == 0 || d < shift) return d;
  return d - shift + window;
}

// Checks a CSV body cell by cell; returns the number of mismatches.
int csv_mismatches(const std::string& csv, std::int64_t length, std::int64_t shift,
                   std::int64_t window) {
  const std::vector<std::string> rows = split(csv, '\n');
  if (static_cast<std::int64_t>(rows.size()) != length) return -1;
  int bad = 0;
  std::vector<std::int64_t> cells;
  for (std::int64_t m = 0; m < length; ++m) {
    if (!parse_ints(rows[static_cast<std::size_t>(m)], ',', cells) ||
        static_cast<std::int64_t>(cells.size()) != length)
      return -1;
    for (std::int64_t n = 0; n < length; ++n)
      bad += cells[static_cast<std::size_t>(n)] != expected(m, n, shift, window);
  }
  return bad;
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t c = 0;
  for (std::size_t p = text.find(part); p != std::string::npos; p = text.find(part, p + 1)) ++c;
  return c;
}

// data-v of every heatmap cell, in document order (row by row).
std::vector<std::int64_t> svg_cell_values(const std::string& svg) {
  std::vector<std::int64_t> values;
  const std::string tag = "<rect class=\"c\"";
  for (std::size_t p = svg.find(tag); p != std::string::npos; p = svg.find(tag, p + 1)) {
    const std::size_t end = svg.find("/>", p);
    const std::size_t v = svg.find("data-v=\"", p);
    if (end == std::string::npos || v == std::string::npos || v > end) return {};
    std::int64_t x = 0;
    const char* b = svg.data() + v + 8;
    const auto [ptr, ec] = std::from_chars(b, svg.data() + end, x);
    if (ec != std::errc() || *ptr != '"') return {};
    values.push_back(x);
  }
  return values;
}

bool well_formed_ish(const std::string& svg) {
  std::string trimmed = svg;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.pop_back();
  const std::string close = "</svg>";
  return trimmed.rfind("<svg", 0) == 0 && trimmed.size() >= close.size() &&
         trimmed.compare(trimmed.size() - close.size(), close.size(), close) == 0 &&
         count(svg, "<svg") == 1 && count(svg, "<g") == count(svg, "</g>") &&
         count(svg, "<text") == count(svg, "</text>") &&
         count(svg, "<defs>") == count(svg, "</defs>") && count(svg, "<") == count(svg, ">");
}

}  // namespace

TEST_CASE("helpers: the CSV checker and the formula catch mismatches") {
  CHECK(csv_mismatches("0,-1\n1,0\n", 2, 0, 0) == 0);
  CHECK(csv_mismatches("0,-1\n2,0\n", 2, 0, 0) == 1);
  CHECK(csv_mismatches("0,-1\n1,0x\n", 2, 0, 0) == -1);
  CHECK(csv_mismatches("0,-1\n", 2, 0, 0) == -1);
  CHECK(expected(8, 5, 3, 0) == 0);
  CHECK(expected(8, 0, 3, 2) == 7);
  CHECK(well_formed_ish("<svg a=\"b\">\n<g></g>\n</svg>\n"));
  CHECK_FALSE(well_formed_ish("<svg>\n<g>\n</svg>\n"));
  CHECK_FALSE(well_formed_ish("<?xml?><svg></svg>"));
}

TEST_CASE("csv: every cell against the formula") {
  struct param {
    std::int64_t length, shift, window;
  };
  for (const param p : {param{9, 3, 0}, param{9, 3, 2}, param{50, 17, 5}, param{257, 100, 0},
                        param{300, 1, 0}, param{130, 129, 128}}) {
    INFO("L ", p.length, " S ", p.shift, " W ", p.window);
    const run_result r =
        run_cli({"--length", std::to_string(p.length), "--shift", std::to_string(p.shift),
                 "--window", std::to_string(p.window), "--format", "csv"});
    REQUIRE(r.code == 0);
    CHECK(r.err.empty());
    CHECK(csv_mismatches(r.out, p.length, p.shift, p.window) == 0);
  }
  SUBCASE("plain RoPE") {
    const run_result r = run_cli({"--rope", "--length", "64", "--format", "csv"});
    REQUIRE(r.code == 0);
    CHECK(csv_mismatches(r.out, 64, 0, 0) == 0);
    const run_result one = run_cli({"--rope", "--length", "1", "--format", "csv"});
    CHECK(one.out == "0\n");
  }
  SUBCASE("--ratio: S = floor(R L), W = min(128, S - 1) unless given") {
    run_result r = run_cli({"--length", "100", "--ratio", "0.33", "--format", "csv"});
    REQUIRE(r.code == 0);
    CHECK(csv_mismatches(r.out, 100, 33, 32) == 0);
    r = run_cli({"--length", "600", "--ratio", "0.33", "--format", "csv"});
    REQUIRE(r.code == 0);
    CHECK(csv_mismatches(r.out, 600, 198, 128) == 0);
    r = run_cli({"--length", "100", "--ratio", "0.5", "--window", "7", "--format", "csv"});
    REQUIRE(r.code == 0);
    CHECK(csv_mismatches(r.out, 100, 50, 7) == 0);
    r = run_cli({"--length", "100", "--shift", "40", "--format", "csv"});  // default W = 39
    REQUIRE(r.code == 0);
    CHECK(csv_mismatches(r.out, 100, 40, 39) == 0);
  }
  SUBCASE("--output writes the same bytes as standard output") {
    const fs::path file = scratch().path / "m.csv";
    const run_result to_stdout = run_cli({"--length", "40", "--shift", "9", "--format", "csv"});
    const run_result to_file =
        run_cli({"--length", "40", "--shift", "9", "--format", "csv", "--output", file.string()});
    REQUIRE(to_file.code == 0);
    CHECK(to_file.out.empty());
    CHECK(read_file(file) == to_stdout.out);
  }
  SUBCASE("the largest length, streamed") {
    const run_result r = run_cli({"--length", "4096", "--ratio", "0.33", "--format", "csv"});
    REQUIRE(r.code == 0);
    CHECK(csv_mismatches(r.out, 4096, 1351, 128) == 0);
  }
}

TEST_CASE("text: the toy example of Figure 5") {
  run_result r = run_cli({"--length", "9", "--shift", "3", "--window", "0"});
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  std::vector<std::string> lines = split(r.out, '\n');
  REQUIRE(lines.size() == 10);
  CHECK(lines[0] == "STRING S=3 W=0 L=9 (max position 5)");
  CHECK(lines[4] == "0 2 1 0");
  CHECK(lines[9] == "5 4 3 2 1 0 2 1 0");

  r = run_cli({"--length", "9", "--shift", "3", "--window", "2", "--format", "text"});
  REQUIRE(r.code == 0);
  lines = split(r.out, '\n');
  REQUIRE(lines.size() == 10);
  CHECK(lines[0] == "STRING S=3 W=2 L=9 (max position 7)");
  CHECK(lines[9] == "7 6 5 4 3 2 2 1 0");

  r = run_cli({"--length", "9", "--rope"});
  REQUIRE(r.code == 0);
  lines = split(r.out, '\n');
  REQUIRE(lines.size() == 10);
  CHECK(lines[0] == "RoPE L=9 (max position 8)");
  CHECK(lines[9] == "8 7 6 5 4 3 2 1 0");
}

TEST_CASE("text: aligned rows at the largest length") {
  const run_result r = run_cli({"--length", "64", "--shift", "20", "--window", "4"});
  REQUIRE(r.code == 0);
  const std::vector<std::string> lines = split(r.out, '\n');
  REQUIRE(lines.size() == 65);
  CHECK(lines[0] == "STRING S=20 W=4 L=64 (max position 47)");
  std::vector<std::int64_t> cells;
  int bad = 0;
  for (std::int64_t m = 0; m < 64; ++m) {
    const std::string& line = lines[static_cast<std::size_t>(m + 1)];
    // Two-digit columns: every entry is right-aligned in width 2.
    bad += line.size() != static_cast<std::size_t>(3 * (m + 1) - 1);
    if (!parse_ints(line, ' ', cells) || static_cast<std::int64_t>(cells.size()) != m + 1) {
      ++bad;
      continue;
    }
    for (std::int64_t n = 0; n <= m; ++n)
      bad += cells[static_cast<std::size_t>(n)] != expected(m, n, 20, 4);
  }
  CHECK(bad == 0);
}

TEST_CASE("svg: one cell per pair for small L, values and shape") {
  for (const std::int64_t length :
       {std::int64_t{1}, std::int64_t{9}, std::int64_t{50}, std::int64_t{256}}) {
    INFO("L ", length);
    const fs::path file = scratch().path / "m.svg";
    const std::int64_t shift = std::max<std::int64_t>(1, length / 3);
    const std::int64_t window = shift / 2;
    std::vector<std::string> args = {"--length", std::to_string(length), "--format", "svg",
                                     "--output", file.string()};
    if (length > 1) {
      args.insert(args.end(),
                  {"--shift", std::to_string(shift), "--window", std::to_string(window)});
    } else {
      args.push_back("--rope");
    }
    const run_result r = run_cli(args);
    REQUIRE(r.code == 0);
    CHECK(r.out.empty());
    const std::string svg = read_file(file);
    CHECK(well_formed_ish(svg));
    CHECK(count(svg, "<rect class=\"c\"") == static_cast<std::size_t>(length * length));
    CHECK(count(svg, "L=" + std::to_string(length)) >= 1);
    CHECK(count(svg, "<linearGradient") == 1);  // the colour scale legend
    const std::vector<std::int64_t> v = svg_cell_values(svg);
    REQUIRE(v.size() == static_cast<std::size_t>(length * length));
    int bad = 0;
    for (std::int64_t m = 0; m < length; ++m)
      for (std::int64_t n = 0; n < length; ++n)
        bad += v[static_cast<std::size_t>(m * length + n)] !=
               expected(m, n, length > 1 ? shift : 0, window);
    CHECK(bad == 0);
  }
}

TEST_CASE("svg: large L is downsampled to 256 x 256 cells holding the block maximum") {
  struct param {
    std::int64_t length, shift, window;
  };
  for (const param p : {param{600, 200, 16}, param{1000, 330, 128}, param{257, 85, 3}}) {
    INFO("L ", p.length);
    const fs::path file = scratch().path / "big.svg";
    const run_result r = run_cli({"--length", std::to_string(p.length), "--shift",
                                  std::to_string(p.shift), "--window", std::to_string(p.window),
                                  "--format", "svg", "--output", file.string()});
    REQUIRE(r.code == 0);
    const std::string svg = read_file(file);
    CHECK(well_formed_ish(svg));
    const std::int64_t cell = (p.length + 255) / 256, grid = (p.length + cell - 1) / cell;
    const std::vector<std::int64_t> v = svg_cell_values(svg);
    REQUIRE(v.size() == static_cast<std::size_t>(grid * grid));
    int bad = 0;
    for (std::int64_t i = 0; i < grid; ++i) {
      for (std::int64_t j = 0; j < grid; ++j) {
        std::int64_t want = -1;  // brute force over the block
        for (std::int64_t m = i * cell; m < std::min((i + 1) * cell, p.length); ++m)
          for (std::int64_t n = j * cell; n < std::min((j + 1) * cell, p.length); ++n)
            want = std::max(want, expected(m, n, p.shift, p.window));
        bad += v[static_cast<std::size_t>(i * grid + j)] != want;
      }
    }
    CHECK(bad == 0);
  }
  SUBCASE("Llama 3.1 sizes") {
    const fs::path file = scratch().path / "llama.svg";
    const run_result r = run_cli(
        {"--length", "131072", "--ratio", "0.33", "--format", "svg", "--output", file.string()});
    REQUIRE(r.code == 0);
    const std::string svg = read_file(file);
    CHECK(well_formed_ish(svg));
    CHECK(count(svg, "STRING S=43253 W=128 L=131072 (max position 87946)") >= 1);
    const std::vector<std::int64_t> v = svg_cell_values(svg);
    REQUIRE(v.size() == 256u * 256u);
    CHECK(*std::max_element(v.begin(), v.end()) == 87946);
    CHECK(v[0] == 511);                           // first block: distances 0..511, all below S
    CHECK(v[1] == -1);                            // wholly above the diagonal
    CHECK(v[255 * 256] == 131071 - 43253 + 128);  // bottom-left block: the largest distance
  }
}

TEST_CASE("bad input: exit code 2 and one line on stderr naming the flag") {
  struct bad_case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::string unwritable = (scratch().path / "no-such-dir" / "x.csv").string();
  const std::vector<bad_case> cases = {
      {{"--length", "12x", "--rope"}, "--length"},
      {{"--length", "abc", "--rope"}, "--length"},
      {{"--length", "", "--rope"}, "--length"},
      {{"--length", " 9", "--rope"}, "--length"},
      {{"--length", "+9", "--rope"}, "--length"},
      {{"--length"}, "--length"},
      {{"--rope"}, "--length"},
      {{"--length", "-4", "--rope"}, "--length"},
      {{"--length", "0", "--rope"}, "--length"},
      {{"--length", "99999999999999999999", "--rope"}, "--length"},
      {{"--length", "9", "--shift", "9"}, "--shift"},
      {{"--length", "9", "--shift", "12"}, "--shift"},
      {{"--length", "9", "--shift", "-3"}, "--shift"},
      {{"--length", "9", "--shift", "3x"}, "--shift"},
      {{"--length", "9", "--shift", "0"}, "--shift"},
      {{"--length", "9", "--shift", "--window", "2"}, "--shift"},
      {{"--length", "9", "--shift", "3", "--window", "3"}, "--window"},
      {{"--length", "9", "--shift", "3", "--window", "7"}, "--window"},
      {{"--length", "9", "--shift", "3", "--window", "-1"}, "--window"},
      {{"--length", "9", "--shift", "3", "--window", "1.5"}, "--window"},
      {{"--length", "9", "--ratio", "1.5"}, "--ratio"},
      {{"--length", "9", "--ratio", "0"}, "--ratio"},
      {{"--length", "9", "--ratio", "1"}, "--ratio"},
      {{"--length", "9", "--ratio", "nan"}, "--ratio"},
      {{"--length", "9", "--ratio", "0.3x"}, "--ratio"},
      {{"--length", "9", "--ratio", "0.05"}, "--ratio"},
      {{"--length", "9", "--ratio", "0.5", "--window", "4"}, "--window"},
      {{"--length", "9", "--shift", "3", "--ratio", "0.3"}, "--ratio"},
      {{"--length", "9", "--rope", "--shift", "3"}, "--rope"},
      {{"--length", "9", "--rope", "--ratio", "0.3"}, "--rope"},
      {{"--length", "9", "--rope", "--window", "1"}, "--window"},
      {{"--length", "9"}, "--shift"},
      {{"--length", "9", "--rope", "--format", "png"}, "--format"},
      {{"--length", "9", "--rope", "--format"}, "--format"},
      {{"--length", "9", "--rope", "--bogus"}, "--bogus"},
      {{"--length", "9", "--rope", "-x"}, "-x"},
      {{"--length", "9", "--rope", "5"}, "--rope"},
      {{"9", "--length", "9", "--rope"}, "9"},
      {{"--length", "9", "--length", "9", "--rope"}, "--length"},
      {{"--length", "9", "--rope=1"}, "--rope"},
      {{"--length=", "--rope"}, "--length"},
      {{"--length", "100", "--rope"}, "--length"},
      {{"--length", "65", "--shift", "3", "--format", "text"}, "--length"},
      {{"--length", "4097", "--rope", "--format", "csv"}, "--length"},
      {{"--length", "9", "--rope", "--format", "svg"}, "--output"},
      {{"--length", "9", "--rope", "--output", ""}, "--output"},
      {{"--length", "9", "--rope", "--format", "csv", "--output", unwritable}, "--output"},
  };
  for (const bad_case& c : cases) {
    std::string joined;
    for (const std::string& a : c.args) joined += "[" + a + "] ";
    INFO("args: ", joined);
    const run_result r = run_cli(c.args);
    INFO("stderr: ", r.err);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(count(r.err, "\n") == 1);
    CHECK(!r.err.empty());
    CHECK(r.err.back() == '\n');
    CHECK(count(r.err, c.flag) >= 1);
  }
  CHECK_FALSE(fs::exists(unwritable));
}

TEST_CASE("--help documents every flag and exits 0") {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, std::vector<std::string>{"-h"},
        std::vector<std::string>{"--length", "12x", "--help"}}) {
    const run_result r = run_cli(args);
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    for (const char* flag :
         {"usage", "--length", "--shift", "--ratio", "--window", "--rope", "--format", "--output",
          "text", "csv", "svg", "128", "--frequency", "--docs", "--sequences", "--below"})
      CHECK(count(r.out, flag) >= 1);
  }
}

namespace {

// --frequency --format csv parsed: rows of (distance, trained, rope_pairs, string_pairs).
std::vector<std::vector<std::int64_t>> frequency_rows(const std::string& csv) {
  std::vector<std::vector<std::int64_t>> rows;
  const std::vector<std::string> lines = split(csv, '\n');
  if (lines.empty() || lines[0] != "distance,trained,rope_pairs,string_pairs") return rows;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::int64_t> cells;
    if (!parse_ints(lines[i], ',', cells) || cells.size() != 4) return {};
    rows.push_back(cells);
  }
  return rows;
}

// Σ over d < L with f(d) = p of (L - d), f written here (shift 0: RoPE).
std::int64_t pairs_at(std::int64_t p, std::int64_t length, std::int64_t shift,
                      std::int64_t window) {
  std::int64_t total = 0;
  for (std::int64_t d = 0; d < length; ++d) {
    const std::int64_t f = shift == 0 || d < shift ? d : d - shift + window;
    if (f == p) total += length - d;
  }
  return total;
}

}  // namespace

TEST_CASE("frequency csv: full-length sequences give N (L - d), and the inference pairs") {
  const run_result r = run_cli({"--frequency", "--length", "50", "--shift", "17", "--window", "5",
                                "--sequences", "3", "--format", "csv"});
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  const auto rows = frequency_rows(r.out);
  REQUIRE(rows.size() == 50);
  for (std::int64_t d = 0; d < 50; ++d) {
    const auto& row = rows[static_cast<std::size_t>(d)];
    CAPTURE(d);
    CHECK(row[0] == d);
    CHECK(row[1] == 3 * (50 - d));
    CHECK(row[2] == 50 - d);
    CHECK(row[3] == pairs_at(d, 50, 17, 5));
  }
  // Default STRING: the paper's S = floor(0.33 L), W = min(128, S - 1).
  const run_result paper = run_cli({"--frequency", "--length", "600", "--format", "csv"});
  REQUIRE(paper.code == 0);
  const auto prow = frequency_rows(paper.out);
  REQUIRE(prow.size() == 600);
  for (std::int64_t p = 0; p < 600; p += 37)
    CHECK(prow[static_cast<std::size_t>(p)][3] == pairs_at(p, 600, 198, 128));
}

TEST_CASE("frequency: a file of document lengths, counted by hand") {
  const fs::path docs = scratch().path / "docs.txt";
  {
    std::ofstream f(docs);
    f << "# three documents\n3\n\n 5 \n2\n";
  }
  // L = 6: trained(d) = 10, 7, 4, 2, 1, 0 (see tests/test_frequency.cpp).
  run_result r = run_cli({"--frequency", "--length", "6", "--shift", "2", "--window", "1", "--docs",
                          docs.string(), "--format", "csv"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto rows = frequency_rows(r.out);
  REQUIRE(rows.size() == 6);
  const std::int64_t trained[6] = {10, 7, 4, 2, 1, 0};
  for (std::size_t d = 0; d < 6; ++d) CHECK(rows[d][1] == trained[d]);
  // Rare below 4 (distances 3..5). RoPE: pairs 3 + 2 + 1 of 21. STRING S = 2,
  // W = 1 maps d = 2..5 to 1..4: positions 3 and 4 hold d = 4, 5: 2 + 1 of 21.
  r = run_cli({"--frequency", "--length", "6", "--shift", "2", "--window", "1", "--docs",
               docs.string(), "--below", "4"});
  REQUIRE(r.code == 0);
  CHECK(r.out.find("3 document(s) from") != std::string::npos);
  CHECK(r.out.find("distances >= 3") != std::string::npos);
  CHECK(r.out.find("RoPE 28.6%, STRING S=2 W=1 14.3%") != std::string::npos);  // 6/21, 3/21
  // --below as a percentage of trained(0): 40% of 10 = 4, the same.
  const run_result pct = run_cli({"--frequency", "--length", "6", "--shift", "2", "--window", "1",
                                  "--docs", docs.string(), "--below", "40%"});
  REQUIRE(pct.code == 0);
  CHECK(pct.out.find("RoPE 28.6%, STRING S=2 W=1 14.3%") != std::string::npos);
}

TEST_CASE("frequency: tools/train's stream, text and svg") {
  const run_result r = run_cli(
      {"--frequency", "--length", "512", "--docs", "train", "--shift", "256", "--window", "64"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  // train_stats.json of the shipped run: 9,760 documents, 2,423 drill sequences.
  CHECK(r.out.find("9644 sequences of 512: 9760 documents, 2423 drill sequences") !=
        std::string::npos);
  CHECK(r.out.find("STRING S=256 W=64 uses 0..319") != std::string::npos);  // 511 - 256 + 64
  CHECK(r.out.find("       0  2698540") != std::string::npos);  // f(0) in train_stats.json
  const fs::path svg = scratch().path / "freq.svg";
  const run_result s = run_cli({"--frequency", "--length", "512", "--docs", "train", "--format",
                                "svg", "--output", svg.string()});
  REQUIRE_MESSAGE(s.code == 0, s.err);
  const std::string text = read_file(svg);
  CHECK(well_formed_ish(text));
  CHECK(count(text, "<polyline class=\"trained\"") == 1);
  CHECK(count(text, "class=\"threshold\" data-count=\"134927\"") == 1);  // ceil(5% of 2698540)
  CHECK(count(text, "data-method=\"rope\" data-from=\"0\" data-to=\"511\"") == 1);
  CHECK(count(text, "data-method=\"string\" data-from=\"0\" data-to=\"471\"") == 1);  // S=168 W=128
}

TEST_CASE("frequency: bad input exits 2 with one line naming the flag") {
  const fs::path bad_docs = scratch().path / "bad_docs.txt";
  {
    std::ofstream f(bad_docs);
    f << "12\n7x\n";
  }
  const fs::path empty_docs = scratch().path / "empty_docs.txt";
  { std::ofstream f(empty_docs); }
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--frequency", "--length", "512", "--rope"}, "--rope"},
      {{"--frequency", "--length", "2000000"}, "--length"},
      {{"--frequency", "--length", "3"}, "--length"},
      {{"--frequency", "--length", "100", "--window", "5"}, "--window"},
      {{"--frequency", "--length", "100", "--docs", "train"}, "--docs"},
      {{"--frequency", "--length", "100", "--docs", bad_docs.string()}, "bad_docs.txt:2"},
      {{"--frequency", "--length", "100", "--docs", empty_docs.string()}, "--docs"},
      {{"--frequency", "--length", "100", "--docs", (scratch().path / "none").string()}, "--docs"},
      {{"--frequency", "--length", "100", "--docs", bad_docs.string(), "--sequences", "2"},
       "--sequences"},
      {{"--frequency", "--length", "100", "--sequences", "0"}, "--sequences"},
      {{"--frequency", "--length", "100", "--below", "0"}, "--below"},
      {{"--frequency", "--length", "100", "--below", "150%"}, "--below"},
      {{"--frequency", "--length", "100", "--below", "x%"}, "--below"},
      {{"--frequency", "--length", "100", "--format", "svg"}, "--output"},
      {{"--length", "9", "--rope", "--docs", "train"}, "--docs"},
      {{"--length", "9", "--rope", "--below", "3"}, "--below"},
  };
  for (const auto& [args, flag] : cases) {
    std::string joined;
    for (const std::string& a : args) joined += "[" + a + "] ";
    INFO("args: ", joined);
    const run_result r = run_cli(args);
    INFO("stderr: ", r.err);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(count(r.err, "\n") == 1);
    CHECK(count(r.err, flag) >= 1);
  }
}
