// examples/eval/summary.hpp - rebuilds a sweep's results from its JSON lines
// (report.hpp's record_json, one object per scored generation), so the
// tables and intervals of a published run can be recomputed from the raw
// trials: shiftrope-passkey --summary FILE.
//
// Read from each line: "task", "model", "method", "label", "length" (prompt
// tokens), "target_length", "depth", "correct" (passkey: true/false;
// needles: the fraction found) and, for needles, "found" and "key" (an
// array of the 4 keys). Methods keep the order of their first line; lengths
// and depths are sorted. Any other field is skipped (parsed, not used).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <istream>
#include <map>
#include <shiftrope/error.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "methods.hpp"
#include "sweep.hpp"

namespace eval {

/// The top-level fields of one JSON object: strings, numbers, booleans;
/// nested objects and arrays are kept as their element count (arrays) or
/// skipped. Enough for record_json's lines; strict enough to reject a
/// truncated or garbled line (throws shiftrope::error naming the offset).
class json_fields {
 public:
  struct value {
    enum class kind { string, number, boolean, null, array, object } k = kind::null;
    std::string s;
    double n = 0;
    bool b = false;
    std::size_t items = 0;  ///< elements of an array
  };

  explicit json_fields(std::string_view text) : t_(text) {
    ws();
    expect('{');
    ws();
    if (peek() == '}') {
      ++i_;
    } else {
      for (;;) {
        ws();
        std::string key = string();
        ws();
        expect(':');
        ws();
        value v = parse_value(0);
        fields_[key] = std::move(v);
        ws();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect('}');
        break;
      }
    }
    ws();
    if (i_ != t_.size()) error("trailing characters");
  }

  [[nodiscard]] const value* get(const std::string& key) const {
    const auto it = fields_.find(key);
    return it == fields_.end() ? nullptr : &it->second;
  }

 private:
  [[noreturn]] void error(const char* what) const { shiftrope::fail(what, " at offset ", i_); }
  char peek() const { return i_ < t_.size() ? t_[i_] : '\0'; }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) error(c == '{' ? "expected a JSON object" : "unexpected character");
    ++i_;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < t_.size() && t_[i_] != '"') {
      char c = t_[i_++];
      if (c == '\\') {
        if (i_ >= t_.size()) break;
        c = t_[i_++];
        if (c == 'u') {  // control characters only (record_json's \u00XX); others kept as '?'
          if (i_ + 4 > t_.size()) error("short \\u escape");
          const unsigned long cp = std::strtoul(std::string(t_.substr(i_, 4)).c_str(), nullptr, 16);
          out += cp < 0x80 ? static_cast<char>(cp) : '?';
          i_ += 4;
          continue;
        }
        const std::string_view simple = "\"\\/bfnrt", mapped = "\"\\/\b\f\n\r\t";
        const std::size_t at = simple.find(c);
        if (at == std::string_view::npos) error("bad escape");
        c = mapped[at];
      }
      out += c;
    }
    if (i_ >= t_.size()) error("unterminated string");
    ++i_;
    return out;
  }
  value parse_value(int depth) {
    if (depth > 32) error("nesting too deep");
    value v;
    const char c = peek();
    if (c == '"') {
      v.k = value::kind::string;
      v.s = string();
    } else if (c == '{' || c == '[') {
      v.k = c == '{' ? value::kind::object : value::kind::array;
      const char close = c == '{' ? '}' : ']';
      ++i_;
      ws();
      if (peek() == close) {
        ++i_;
        return v;
      }
      for (;;) {
        ws();
        if (v.k == value::kind::object) {
          (void)string();
          ws();
          expect(':');
          ws();
        }
        (void)parse_value(depth + 1);
        ++v.items;
        ws();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(close);
        break;
      }
    } else if (t_.substr(i_, 4) == "true" || t_.substr(i_, 5) == "false") {
      v.k = value::kind::boolean;
      v.b = c == 't';
      i_ += v.b ? 4 : 5;
    } else if (t_.substr(i_, 4) == "null") {
      i_ += 4;
    } else {
      const std::size_t start = i_;
      while (i_ < t_.size() &&
             std::string_view("+-.0123456789eE").find(t_[i_]) != std::string_view::npos)
        ++i_;
      if (i_ == start) error("unexpected character");
      char* end = nullptr;
      const std::string text(t_.substr(start, i_ - start));
      v.k = value::kind::number;
      v.n = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size()) error("bad number");
    }
    return v;
  }

  std::string_view t_;
  std::size_t i_ = 0;
  std::map<std::string, value> fields_;
};

/// A sweep rebuilt from JSON lines.
struct summary {
  std::string task, model;
  std::vector<method> methods;  ///< name and label only
  std::vector<std::int64_t> lengths;
  std::vector<double> depths;
  sweep_results results{0, 0, 0};
  std::int64_t records = 0;
};

/// Reads JSON lines from in (`source` names it in errors: "FILE:LINE: ...").
inline summary read_summary(std::istream& in, const std::string& source) {
  struct row {
    std::size_t method;
    std::int64_t length, tokens;
    double depth, score;
    bool half;
  };
  summary out;
  std::vector<row> rows;
  std::string line;
  std::int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = source + ":" + std::to_string(number) + ": ";
    try {
      const json_fields f(line);
      const auto need = [&](const char* key, json_fields::value::kind k) {
        const json_fields::value* v = f.get(key);
        if (!v || v->k != k) shiftrope::fail("field \"", key, "\" missing or of the wrong type");
        return v;
      };
      using kind = json_fields::value::kind;
      const std::string task = need("task", kind::string)->s;
      if (out.task.empty()) {
        out.task = task;
        out.model = need("model", kind::string)->s;
      } else if (task != out.task) {
        shiftrope::fail("task \"", task, "\" differs from the first line's \"", out.task, "\"");
      }
      const std::string label = need("label", kind::string)->s;
      auto it = std::find_if(out.methods.begin(), out.methods.end(),
                             [&](const method& m) { return m.label == label; });
      if (it == out.methods.end()) {
        method m;
        m.name = need("method", kind::string)->s;
        m.label = label;
        out.methods.push_back(m);
        it = out.methods.end() - 1;
      }
      row r{};
      r.method = static_cast<std::size_t>(it - out.methods.begin());
      r.length = static_cast<std::int64_t>(need("target_length", kind::number)->n);
      r.tokens = static_cast<std::int64_t>(need("length", kind::number)->n);
      r.depth = need("depth", kind::number)->n;
      if (task == "needles") {
        r.score = need("correct", kind::number)->n;
        r.half = 2 * need("found", kind::number)->n >=
                 static_cast<double>(need("key", kind::array)->items);
      } else {
        r.score = need("correct", kind::boolean)->b ? 1.0 : 0.0;
        r.half = r.score > 0;
      }
      rows.push_back(r);
    } catch (const shiftrope::error& e) {
      shiftrope::fail(where, e.what());
    }
  }
  if (rows.empty()) shiftrope::fail(source, ": no records");
  for (const row& r : rows) {
    out.lengths.push_back(r.length);
    out.depths.push_back(r.depth);
  }
  std::sort(out.lengths.begin(), out.lengths.end());
  out.lengths.erase(std::unique(out.lengths.begin(), out.lengths.end()), out.lengths.end());
  std::sort(out.depths.begin(), out.depths.end());
  out.depths.erase(std::unique(out.depths.begin(), out.depths.end()), out.depths.end());
  out.results = sweep_results(out.methods.size(), out.lengths.size(), out.depths.size());
  for (const row& r : rows) {
    const auto li = static_cast<std::size_t>(
        std::lower_bound(out.lengths.begin(), out.lengths.end(), r.length) - out.lengths.begin());
    const auto di = static_cast<std::size_t>(
        std::lower_bound(out.depths.begin(), out.depths.end(), r.depth) - out.depths.begin());
    sweep_results::cell& c = out.results.at(r.method, li, di);
    c.score += r.score;
    c.at_least_half += r.half ? 1 : 0;
    c.count += 1;
    c.tokens += r.tokens;
  }
  out.records = static_cast<std::int64_t>(rows.size());
  return out;
}

}  // namespace eval
