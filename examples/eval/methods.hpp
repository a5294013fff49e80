// examples/eval/methods.hpp - the position methods an evaluation compares,
// parsed from a --methods list, and applied to one session in turn.
//
// Grammar: METHOD[,METHOD...], METHOD = NAME[:KEY=VALUE...]
//   rope                        plain RoPE
//   string                      STRING, the paper's setting for the training
//                               length L: S = floor(0.33 L), W = min(128, S - 1)
//   string:S=168:W=128          given shift (and window; W default min(128, S - 1))
//   string:ratio=0.25:W=32      S = floor(ratio L)
//   string:...:dup=1            count the key at distance S twice (the
//                               reference implementation's prefill)
//   self-extend:G=4:Wn=64       Self-Extend, group G, neighbour window Wn
//                               (defaults G = 4, Wn = max(1, L/8))
//   any method:scale=X          multiply attention logits by X (or scale=ref:
//                               STRING's reference factor (1 + 0.1 ln 2)^2)
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <shiftrope/model.hpp>
#include <shiftrope/position_map.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "../cli.hpp"

namespace eval {

/// One method of a sweep.
struct method {
  std::string name;         ///< rope, string or self-extend
  std::string label;        ///< e.g. "string(S=168,W=128)" (tables, SVG titles)
  std::string params_json;  ///< e.g. {"S":168,"W":128,"scale":1}
  shiftrope::remap positions = shiftrope::identity_remap{};
  std::optional<shiftrope::self_extend_remap> self_extend;
  double logit_scale = 1.0;

  /// Switches the session to this method (forgets its positions).
  void apply(shiftrope::session& s) const { s.set_positions(positions, self_extend, logit_scale); }
};

namespace detail {

inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t at = s.find(sep);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

inline std::string number_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

// One method spec; `flag` names the flag in errors.
inline method parse_method(std::string_view flag, std::string_view spec, std::int64_t train_len) {
  const std::vector<std::string_view> parts = split(spec, ':');
  const std::string where = "method " + cli::quoted(spec) + ": ";
  std::map<std::string, std::string, std::less<>> kv;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::size_t eq = parts[i].find('=');
    if (eq == std::string_view::npos || eq == 0)
      throw cli::cli_error(flag, where + "expected KEY=VALUE, got " + cli::quoted(parts[i]));
    if (!kv.emplace(std::string(parts[i].substr(0, eq)), std::string(parts[i].substr(eq + 1)))
             .second)
      throw cli::cli_error(flag, where + cli::quoted(parts[i].substr(0, eq)) + " given twice");
  }
  const auto take = [&](const char* key) -> std::optional<std::string> {
    const auto it = kv.find(key);
    if (it == kv.end()) return std::nullopt;
    std::string v = it->second;
    kv.erase(it);
    return v;
  };
  constexpr std::int64_t max = std::int64_t{1} << 30;
  const auto integer = [&](const char* key, std::int64_t lo) -> std::optional<std::int64_t> {
    const auto v = take(key);
    if (!v) return std::nullopt;
    return cli::parse_int<std::int64_t>(std::string(flag) + " (" + where + key + ")", *v, lo, max);
  };
  method m;
  m.name = std::string(parts[0]);
  if (const auto s = take("scale")) {
    m.logit_scale = *s == "ref"
                        ? shiftrope::string_reference_logit_scale
                        : cli::parse_double(std::string(flag) + " (" + where + "scale)", *s);
    if (!(m.logit_scale > 0.0)) throw cli::cli_error(flag, where + "scale must be > 0, got " + *s);
  }
  if (m.name == "rope") {
    m.label = "rope";
    m.params_json = "{";
  } else if (m.name == "string") {
    shiftrope::string_remap::setting setting;
    setting.shift = integer("S", 1);
    if (const auto ratio = take("ratio"))
      setting.ratio = cli::parse_double(std::string(flag) + " (" + where + "ratio)", *ratio);
    setting.window = integer("W", 0);
    const auto dup = integer("dup", 0);
    shiftrope::string_remap r;
    try {
      r = shiftrope::string_remap::resolve(train_len, setting);
    } catch (const shiftrope::error& e) {
      throw cli::cli_error(flag, where + e.what() + " (L = " + std::to_string(train_len) + ")");
    }
    r.duplicate_boundary_key = dup && *dup != 0;
    m.positions = r;
    m.label = shiftrope::describe(m.positions);
    m.params_json = "{\"S\":" + std::to_string(r.shift) + ",\"W\":" + std::to_string(r.window) +
                    (r.duplicate_boundary_key ? ",\"dup\":true" : "") + ",";
  } else if (m.name == "self-extend") {
    shiftrope::self_extend_remap r;
    r.group = integer("G", 1).value_or(4);
    r.neighbor_window = integer("Wn", 1).value_or(std::max<std::int64_t>(1, train_len / 8));
    m.self_extend = r;
    m.label = shiftrope::describe(r);
    m.params_json =
        "{\"G\":" + std::to_string(r.group) + ",\"Wn\":" + std::to_string(r.neighbor_window) + ",";
  } else {
    throw cli::cli_error(flag, where + "unknown method " + cli::quoted(parts[0]) +
                                   " (expected rope, string or self-extend)");
  }
  if (!kv.empty())
    throw cli::cli_error(
        flag, where + "unknown parameter " + cli::quoted(kv.begin()->first) + " for " + m.name);
  if (m.logit_scale != 1.0) m.label += "*" + number_text(m.logit_scale);
  m.params_json += "\"scale\":" + number_text(m.logit_scale) + "}";
  return m;
}

}  // namespace detail

/// The methods of a --methods list, checked against the training length L.
inline std::vector<method> parse_methods(std::string_view flag, std::string_view list,
                                         std::int64_t train_len) {
  std::vector<method> out;
  for (const std::string_view spec : detail::split(list, ',')) {
    if (spec.empty()) throw cli::cli_error(flag, "empty method in " + cli::quoted(list));
    out.push_back(detail::parse_method(flag, spec, train_len));
  }
  return out;
}

}  // namespace eval
