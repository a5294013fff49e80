// shiftrope/detail/text/utf8.hpp - strict UTF-8 decoding, encoding and repair.
// Tokenizers split text into characters and must never trust their input:
// every function here accepts arbitrary bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shiftrope::detail {

/// The Unicode replacement character U+FFFD, UTF-8 encoded.
inline constexpr std::string_view utf8_replacement = "\xEF\xBF\xBD";

/// Result of decoding one character: its code point and byte length. A
/// length of 0 never occurs; `valid` is false for an ill-formed sequence,
/// whose `length` is then its maximal subpart (Unicode 15, §3.9 "U+FFFD
/// substitution of maximal subparts"): the bytes that could still begin a
/// well-formed character, at least one.
struct utf8_char {
  std::uint32_t code_point = 0;  // U+FFFD when !valid
  std::size_t length = 1;        // bytes consumed, 1..4
  bool valid = false;
};

/// Decodes the character at s[pos] (pos < s.size()). Rejects overlong forms,
/// surrogates (U+D800..U+DFFF) and code points above U+10FFFF, following the
/// well-formed byte sequence table of the Unicode standard (Table 3-7).
inline utf8_char decode_utf8(std::string_view s, std::size_t pos) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return {b0, 1, true};
  std::size_t need = 0;     // continuation bytes
  unsigned char lo = 0x80;  // allowed range of the second byte
  unsigned char hi = 0xBF;
  std::uint32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0Fu;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong 3-byte forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07u;
    if (b0 == 0xF0) lo = 0x90;  // no overlong 4-byte forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {0xFFFD, 1, false};  // 0x80..0xC1, 0xF5..0xFF never start a character
  }
  for (std::size_t i = 1; i <= need; ++i) {
    if (pos + i >= s.size()) return {0xFFFD, i, false};
    const unsigned char b = byte(i);
    const unsigned char min = i == 1 ? lo : 0x80;
    const unsigned char max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return {0xFFFD, i, false};
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return {cp, need + 1, true};
}

/// Appends the UTF-8 encoding of a code point (U+FFFD for surrogates and
/// values above U+10FFFF).
inline void append_utf8(std::string& out, std::uint32_t cp) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// True when every byte of s belongs to a well-formed UTF-8 character.
inline bool is_valid_utf8(std::string_view s) noexcept {
  for (std::size_t pos = 0; pos < s.size();) {
    const utf8_char c = decode_utf8(s, pos);
    if (!c.valid) return false;
    pos += c.length;
  }
  return true;
}

/// Copies s, replacing each maximal ill-formed subpart by U+FFFD, so that
/// the result is always well-formed UTF-8. Valid input is returned unchanged.
inline std::string repair_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) {
    const utf8_char c = decode_utf8(s, pos);
    if (c.valid) {
      out.append(s.substr(pos, c.length));
    } else {
      out.append(utf8_replacement);
    }
    pos += c.length;
  }
  return out;
}

}  // namespace shiftrope::detail
