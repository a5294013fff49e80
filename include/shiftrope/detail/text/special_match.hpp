// shiftrope/detail/text/special_match.hpp - longest-prefix matching of special
// token texts (control, user-defined, unknown) for tokenizer::encode with
// parse_special.
//
// Cost: the texts are sorted once; a match at one position narrows the
// sorted range one byte at a time (two binary searches per byte), so it
// costs O(p · log n) for the p bytes that still prefix some text, never more
// than max_special_bytes. Probing a hash table once per distinct text length
// instead costs the sum of those lengths per position: with a vocabulary
// holding texts of lengths 2..2000 that start like the prompt, a 4 KB prompt
// took 16 s.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shiftrope::detail {

class special_matcher {
 public:
  /// Longer texts are never matched as special tokens (they stay plain text):
  /// real special tokens are under 64 bytes, and the bound keeps a match at
  /// one position cheap whatever the vocabulary.
  static constexpr std::size_t max_special_bytes = 256;

  special_matcher() = default;

  /// entries: (text, token id). Empty texts and texts longer than
  /// max_special_bytes are skipped; for a text given twice the first id wins.
  explicit special_matcher(std::vector<std::pair<std::string, int>> entries) {
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [](const auto& e) {
                                   return e.first.empty() || e.first.size() > max_special_bytes;
                                 }),
                  entries.end());
    // std::string orders bytes as unsigned char (char_traits<char>::lt), a
    // prefix before its extensions: the order the narrowing below relies on.
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    entries.erase(std::unique(entries.begin(), entries.end(),
                              [](const auto& a, const auto& b) { return a.first == b.first; }),
                  entries.end());
    for (auto& [text, id] : entries) {
      texts_.push_back(std::move(text));
      ids_.push_back(id);
    }
  }

  bool empty() const noexcept { return texts_.empty(); }

  /// The longest text that is a prefix of s, as (token id, length); (-1, 0)
  /// when none is.
  std::pair<int, std::size_t> longest_prefix(std::string_view s) const noexcept {
    std::pair<int, std::size_t> best{-1, 0};
    std::size_t lo = 0, hi = texts_.size();  // texts_[lo, hi) all start with s[0, d)
    for (std::size_t d = 0; d < s.size() && d < max_special_bytes && lo < hi; ++d) {
      if (texts_[lo].size() == d) ++lo;  // the text equal to s[0, d) sorts first
      const auto c = static_cast<unsigned char>(s[d]);
      const auto byte_at = [d](const std::string& t) { return static_cast<unsigned char>(t[d]); };
      const auto first = texts_.begin() + static_cast<std::ptrdiff_t>(lo);
      const auto last = texts_.begin() + static_cast<std::ptrdiff_t>(hi);
      const auto from =
          std::partition_point(first, last, [&](const std::string& t) { return byte_at(t) < c; });
      const auto to =
          std::partition_point(from, last, [&](const std::string& t) { return byte_at(t) <= c; });
      lo = static_cast<std::size_t>(from - texts_.begin());
      hi = static_cast<std::size_t>(to - texts_.begin());
      if (lo < hi && texts_[lo].size() == d + 1) best = {ids_[lo], d + 1};
    }
    return best;
  }

 private:
  std::vector<std::string> texts_;  // [n] sorted, unique, 1..max_special_bytes bytes each
  std::vector<int> ids_;            // [n] token id of texts_[i]
};

}  // namespace shiftrope::detail
