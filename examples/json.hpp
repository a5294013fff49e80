// examples/json.hpp - the one JSON string writer of the programs (JSON lines
// of shiftrope-generate, -passkey, -perplexity): quotes and escapes UTF-8
// text as it is (bytes >= 0x80 pass through; control characters and DEL as \uXXXX).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace json {

/// `text` as a JSON string literal, quotes included.
inline std::string string(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace json
