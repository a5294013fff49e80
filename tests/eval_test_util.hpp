// Helpers for the tests of the evaluation programs (shiftrope-passkey,
// shiftrope-perplexity): a strict JSON parser (RFC 8259, written here so the
// tests check the programs' output independently), an XML well-formedness
// check for the SVG heatmaps, running a program as a child process, and a
// seeded random llama2.c checkpoint with tools/train's byte-level
// vocabulary (258 tokens), so the byte-level paths run without the trained
// model.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace eval_test {

namespace fs = std::filesystem;

/// A JSON value.
struct json {
  enum class kind { null, boolean, number, string, array, object } k = kind::null;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<json> a;
  std::vector<std::pair<std::string, json>> o;  // in order; duplicate keys rejected

  /// The member `key` of an object, or nullptr.
  [[nodiscard]] const json* get(std::string_view key) const {
    for (const auto& [name, value] : o)
      if (name == key) return &value;
    return nullptr;
  }
};

/// Strict recursive-descent parser; error() says where it stopped.
class json_parser {
 public:
  explicit json_parser(std::string_view text) : t_(text) {}

  /// The whole text as one value (whitespace around allowed).
  bool parse(json& out) {
    ws();
    if (!value(out, 0)) return false;
    ws();
    return i_ == t_.size() || fail("trailing characters");
  }
  [[nodiscard]] const std::string& error() const { return err_; }

 private:
  bool fail(const std::string& what) {
    if (err_.empty()) err_ = what + " at offset " + std::to_string(i_);
    return false;
  }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r'))
      ++i_;
  }
  bool literal(std::string_view word) {
    if (t_.substr(i_, word.size()) != word) return fail("bad literal");
    i_ += word.size();
    return true;
  }
  bool value(json& v, int depth) {
    if (depth > 64) return fail("nesting too deep");
    if (i_ >= t_.size()) return fail("unexpected end");
    const char c = t_[i_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') return v.k = json::kind::string, string(v.s);
    if (c == 't') return v.k = json::kind::boolean, v.b = true, literal("true");
    if (c == 'f') return v.k = json::kind::boolean, v.b = false, literal("false");
    if (c == 'n') return v.k = json::kind::null, literal("null");
    return number(v);
  }
  bool number(json& v) {
    const std::size_t start = i_;
    const auto digits = [&] {
      const std::size_t s = i_;
      while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') ++i_;
      return i_ > s;
    };
    if (i_ < t_.size() && t_[i_] == '-') ++i_;
    if (i_ < t_.size() && t_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      return fail("bad number");
    }
    if (i_ < t_.size() && t_[i_] == '.' && (++i_, !digits())) return fail("bad fraction");
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      ++i_;
      if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-')) ++i_;
      if (!digits()) return fail("bad exponent");
    }
    v.k = json::kind::number;
    v.n = std::strtod(std::string(t_.substr(start, i_ - start)).c_str(), nullptr);
    return true;
  }
  static void append_utf8(std::string& s, unsigned cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool hex4(unsigned& cp) {
    if (i_ + 4 > t_.size()) return fail("short \\u escape");
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = t_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= static_cast<unsigned>(h - 'A' + 10);
      else
        return fail("bad hex digit");
    }
    return true;
  }
  bool string(std::string& out) {
    ++i_;  // opening quote
    while (i_ < t_.size() && t_[i_] != '"') {
      const auto c = static_cast<unsigned char>(t_[i_++]);
      if (c < 0x20) return fail("control character in a string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i_ >= t_.size()) return fail("unterminated escape");
      const char e = t_[i_++];
      const std::string_view simple = "\"\\/bfnrt", mapped = "\"\\/\b\f\n\r\t";
      if (const std::size_t at = simple.find(e); at != std::string_view::npos) {
        out += mapped[at];
      } else if (e == 'u') {
        unsigned cp = 0, low = 0;
        if (!hex4(cp)) return false;
        if (cp >= 0xD800 && cp < 0xDC00) {
          if (t_.substr(i_, 2) != "\\u" || (i_ += 2, !hex4(low)) || low < 0xDC00 || low > 0xDFFF)
            return fail("unpaired surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, cp);
      } else {
        return fail("bad escape");
      }
    }
    if (i_ >= t_.size()) return fail("unterminated string");
    ++i_;
    return true;
  }
  bool array(json& v, int depth) {
    v.k = json::kind::array;
    ++i_;
    ws();
    if (i_ < t_.size() && t_[i_] == ']') return ++i_, true;
    for (;;) {
      ws();
      v.a.emplace_back();
      if (!value(v.a.back(), depth + 1)) return false;
      ws();
      if (i_ < t_.size() && t_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < t_.size() && t_[i_] == ']') return ++i_, true;
      return fail("expected , or ]");
    }
  }
  bool object(json& v, int depth) {
    v.k = json::kind::object;
    ++i_;
    ws();
    if (i_ < t_.size() && t_[i_] == '}') return ++i_, true;
    for (;;) {
      ws();
      if (i_ >= t_.size() || t_[i_] != '"') return fail("expected a key");
      std::string key;
      if (!string(key)) return false;
      if (v.get(key)) return fail("duplicate key " + key);
      ws();
      if (i_ >= t_.size() || t_[i_] != ':') return fail("expected :");
      ++i_;
      ws();
      v.o.emplace_back(key, json{});
      if (!value(v.o.back().second, depth + 1)) return false;
      ws();
      if (i_ < t_.size() && t_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < t_.size() && t_[i_] == '}') return ++i_, true;
      return fail("expected , or }");
    }
  }

  std::string_view t_;
  std::size_t i_ = 0;
  std::string err_;
};

/// Parses each non-empty line of text as one JSON value; REQUIREs success.
inline std::vector<json> parse_json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    json v;
    json_parser p(line);
    const bool ok = p.parse(v);
    INFO("line ", number, ": ", line.substr(0, 200));
    REQUIRE_MESSAGE(ok, p.error());
    out.push_back(std::move(v));
  }
  return out;
}

/// XML well-formedness of the subset the SVG writer emits: elements with
/// quoted attributes, text, entities; returns "" or the first problem.
/// Also collects every start tag's name and attributes into `elements`.
struct xml_element {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::string text;  // character data directly inside (entities decoded)
};
inline std::string check_xml(std::string_view x, std::vector<xml_element>& elements) {
  std::vector<std::size_t> open;  // indices into elements
  std::size_t i = 0;
  const auto is_name = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == ':' || c == '_';
  };
  const auto decode = [](std::string_view s, std::string& out) {
    for (std::size_t k = 0; k < s.size(); ++k) {
      if (s[k] != '&') {
        out += s[k];
        continue;
      }
      const std::size_t semi = s.find(';', k);
      if (semi == std::string_view::npos) return false;
      const std::string_view e = s.substr(k + 1, semi - k - 1);
      if (e == "amp")
        out += '&';
      else if (e == "lt")
        out += '<';
      else if (e == "gt")
        out += '>';
      else if (e == "quot")
        out += '"';
      else
        return false;
      k = semi;
    }
    return true;
  };
  while (i < x.size()) {
    if (x[i] != '<') {
      const std::size_t end = std::min(x.find('<', i), x.size());
      std::string text;
      if (!decode(x.substr(i, end - i), text)) return "bad entity near offset " + std::to_string(i);
      if (!open.empty())
        elements[open.back()].text += text;
      else if (text.find_first_not_of(" \n\t\r") != std::string::npos)
        return "text outside the root";
      i = end;
      continue;
    }
    if (x.substr(i, 2) == "</") {
      std::size_t j = i + 2;
      while (j < x.size() && is_name(x[j])) ++j;
      const std::string name(x.substr(i + 2, j - i - 2));
      if (open.empty() || elements[open.back()].name != name || j >= x.size() || x[j] != '>')
        return "mismatched end tag </" + name + "> at offset " + std::to_string(i);
      open.pop_back();
      i = j + 1;
      if (open.empty() && x.substr(i).find_first_not_of(" \n\t\r") != std::string_view::npos)
        return "content after the root element";
      continue;
    }
    std::size_t j = i + 1;
    while (j < x.size() && is_name(x[j])) ++j;
    xml_element el;
    el.name = std::string(x.substr(i + 1, j - i - 1));
    if (el.name.empty()) return "empty tag name at offset " + std::to_string(i);
    if (open.empty() && !elements.empty()) return "a second root element";
    for (;;) {
      while (j < x.size() && x[j] == ' ') ++j;
      if (j >= x.size()) return "unterminated tag <" + el.name;
      if (x[j] == '>' || x.substr(j, 2) == "/>") break;
      std::size_t k = j;
      while (k < x.size() && is_name(x[k])) ++k;
      if (k == j || k + 1 >= x.size() || x[k] != '=' || x[k + 1] != '"')
        return "bad attribute in <" + el.name + "> at offset " + std::to_string(j);
      const std::size_t close = x.find('"', k + 2);
      if (close == std::string_view::npos) return "unterminated attribute";
      std::string value;
      if (!decode(x.substr(k + 2, close - k - 2), value)) return "bad entity in an attribute";
      if (!el.attrs.emplace(std::string(x.substr(j, k - j)), value).second)
        return "duplicate attribute in <" + el.name + ">";
      j = close + 1;
    }
    const bool self_closing = x[j] == '/';
    elements.push_back(std::move(el));
    if (!self_closing) open.push_back(elements.size() - 1);
    i = j + (self_closing ? 2 : 1);
  }
  if (!open.empty()) return "unclosed <" + elements[open.back()].name + ">";
  if (elements.empty()) return "no element";
  return "";
}

/// A scratch directory removed at exit.
inline const fs::path& scratch() {
  struct dir {
    fs::path path = fs::temp_directory_path() /
                    ("shiftrope_eval_test_" + std::to_string(static_cast<long>(::getpid())));
    dir() { fs::create_directories(path); }
    ~dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const dir d;
  return d.path;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct result {
  int code = -1;  // exit status; -1 when the child did not exit normally
  std::string out, err;
};

/// Runs a program with arguments; stdout and stderr captured.
inline result run(const std::string& program, const std::vector<std::string>& args) {
  REQUIRE_MESSAGE(fs::exists(program), "the program is not built: ", program);
  const fs::path out = scratch() / "stdout.txt", err = scratch() / "stderr.txt";
  std::string cmd = shell_quote(program);
  for (const std::string& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
  const int status = std::system(cmd.c_str());
  result r;
  if (status != -1 && WIFEXITED(status)) r.code = WEXITSTATUS(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// A random llama2.c checkpoint with tools/train's byte-level vocabulary:
/// dim 16, 1 layer, 2 heads (head_dim 8), vocab 258, seq_len 512, shared
/// classifier, weights uniform in [-0.5, 0.5) from splitmix64. Written once.
inline std::string byte_model() {
  const fs::path path = scratch() / "byte_model.bin";
  if (fs::exists(path)) return path.string();
  const std::int32_t dim = 16, hidden = 32, layers = 1, heads = 2, kv_heads = 2, vocab = 258,
                     seq_len = 512;
  const std::int32_t header[7] = {dim, hidden, layers, heads, kv_heads, vocab, seq_len};
  const std::size_t hs = dim / heads, kv = kv_heads * hs;
  const std::size_t floats =
      vocab * dim + layers * (dim + dim * dim + 2 * dim * kv + dim * dim + dim + 3 * hidden * dim) +
      dim + seq_len * hs;  // + final norm + the two legacy RoPE tables
  std::vector<float> w(floats);
  std::uint64_t state = 2024;
  for (float& x : w) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    x = static_cast<float>(static_cast<double>(z >> 11) * 0x1.0p-53 - 0.5);
  }
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(header), sizeof header);
  f.write(reinterpret_cast<const char*>(w.data()), static_cast<std::streamsize>(w.size() * 4));
  REQUIRE(f.good());
  return path.string();
}

}  // namespace eval_test
