// shiftrope/detail/text/special_match.hpp - matching the literal token texts
// (control, user-defined, unknown) that tokenizer::encode cuts out of the raw
// text before the algorithms run, and llama.cpp's order for doing so.
//
// Partition order (llama.cpp's tokenizer_st_partition): the texts are taken
// longest first; each claims, left to right, every occurrence that lies
// wholly in text not yet claimed. This is not leftmost-longest: with the
// texts "bcd" and "ab", "abcd" becomes a, <bcd>. llama.cpp orders texts of
// equal length with an unstable sort; here the lower token id goes first.
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
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
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
      first_[static_cast<unsigned char>(text[0])] = true;
      texts_.push_back(std::move(text));
      ids_.push_back(id);
    }
  }

  bool empty() const noexcept { return texts_.empty(); }

  /// False when no text starts with byte c (a cheap test before a match).
  bool may_start(char c) const noexcept { return first_[static_cast<unsigned char>(c)]; }

  /// The longest text that is a prefix of s, as (token id, length); (-1, 0)
  /// when none is.
  std::pair<int, std::size_t> longest_prefix(std::string_view s) const noexcept {
    std::pair<int, std::size_t> best{-1, 0};
    for_each_prefix(s, [&](int id, std::size_t length) { best = {id, length}; });
    return best;
  }

  /// Calls f(token id, length) for every text that is a prefix of s,
  /// shortest first.
  template <class F>
  void for_each_prefix(std::string_view s, F&& f) const {
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
      if (lo < hi && texts_[lo].size() == d + 1) f(ids_[lo], d + 1);
    }
  }

 private:
  std::vector<std::string> texts_;  // [n] sorted, unique, 1..max_special_bytes bytes each
  std::vector<int> ids_;            // [n] token id of texts_[i]
  std::array<bool, 256> first_{};   // bytes that start some text
};

/// One literal token cut out of a text: text[offset, offset + length) is
/// token `id`.
struct literal_match {
  std::size_t offset = 0;
  std::size_t length = 0;
  int id = -1;
};

/// The texts of `m` found in `text` in llama.cpp's partition order (header
/// comment), sorted by offset.
///
/// Rather than listing every occurrence (1 MB of spaces with user-defined
/// runs of 1..31 spaces has 31 million), a heap holds one candidate per
/// position, its longest text, in the partition order (longer first, then
/// the lower id, then the lower offset). A popped candidate inside a claimed
/// span is dropped; one that runs into a claim starting at q is replaced by
/// the longest text at its position that ends by q (every text between
/// would run into the same claim); otherwise it claims its span. Memory is
/// O(positions), time O(positions · (prefix walk + log positions)) when
/// candidates are seldom replaced, as with real vocabularies.
inline std::vector<literal_match> partition_literals(std::string_view text,
                                                     const special_matcher& m) {
  std::vector<literal_match> kept;
  if (m.empty()) return kept;
  // The longest text at `offset` no longer than `limit` bytes, or id -1.
  const auto longest = [&](std::size_t offset, std::size_t limit) {
    literal_match best{offset, 0, -1};
    m.for_each_prefix(text.substr(offset, limit), [&](int id, std::size_t length) {
      best.length = length;
      best.id = id;
    });
    return best;
  };
  // Heap order: the top is the candidate the partition order takes first.
  const auto after = [](const literal_match& a, const literal_match& b) {
    if (a.length != b.length) return a.length < b.length;
    if (a.id != b.id) return a.id > b.id;
    return a.offset > b.offset;
  };
  std::vector<literal_match> heap;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!m.may_start(text[i])) continue;
    const literal_match c = longest(i, text.size() - i);
    if (c.id >= 0) heap.push_back(c);
  }
  std::make_heap(heap.begin(), heap.end(), after);
  std::map<std::size_t, std::size_t> claimed;  // start → end of each claimed span, disjoint
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), after);
    const literal_match c = heap.back();
    heap.pop_back();
    const auto next = claimed.lower_bound(c.offset);  // first claim starting at or after c
    if (next != claimed.begin() && std::prev(next)->second > c.offset) continue;  // inside one
    if (next != claimed.end() && next->first < c.offset + c.length) {
      const literal_match shorter = longest(c.offset, next->first - c.offset);
      if (shorter.id >= 0) {
        heap.push_back(shorter);
        std::push_heap(heap.begin(), heap.end(), after);
      }
      continue;
    }
    claimed.emplace_hint(next, c.offset, c.offset + c.length);
    kept.push_back(c);
  }
  std::sort(kept.begin(), kept.end(),
            [](const literal_match& a, const literal_match& b) { return a.offset < b.offset; });
  return kept;
}

}  // namespace shiftrope::detail
