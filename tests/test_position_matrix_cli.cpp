// Tests of the shiftrope-positions example program, run as a child process:
// CSV, text and SVG output against the STRING formula computed here, and the
// exit code / one-line message for each kind of bad input.
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
    for (const char* flag : {"usage", "--length", "--shift", "--ratio", "--window", "--rope",
                             "--format", "--output", "text", "csv", "svg", "128"})
      CHECK(count(r.out, flag) >= 1);
  }
}
