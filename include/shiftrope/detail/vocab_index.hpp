// shiftrope/detail/vocab_index.hpp - text → id lookup for token vocabularies.
// An open-addressing hash table that owns a packed copy of the texts, so it
// can be copied with its tokenizer and looked up with a std::string_view
// (C++17's unordered_map<std::string, …> cannot, without a temporary string).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shiftrope::detail {

/// FNV-1a, 64-bit: simple, and good enough for short token texts.
inline std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

class vocab_index {
 public:
  vocab_index() = default;

  /// Indexes texts[i] → i. Empty texts are not indexed (they can never be
  /// looked up). For duplicated texts the first index wins; duplicate()
  /// reports the first pair found.
  explicit vocab_index(const std::vector<std::string>& texts) {
    offsets_.reserve(texts.size() + 1);
    offsets_.push_back(0);
    std::size_t total = 0;
    for (const std::string& t : texts) total += t.size();
    blob_.reserve(total);
    for (const std::string& t : texts) {
      blob_ += t;
      offsets_.push_back(blob_.size());
    }
    std::size_t capacity = 16;
    while (capacity < 2 * texts.size()) capacity *= 2;
    slots_.assign(capacity, -1);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      if (texts[i].empty()) continue;
      std::size_t slot = fnv1a(texts[i]) & (capacity - 1);
      for (;; slot = (slot + 1) & (capacity - 1)) {
        const std::int32_t id = slots_[slot];
        if (id < 0) {
          slots_[slot] = static_cast<std::int32_t>(i);
          break;
        }
        if (text(id) == texts[i]) {
          if (duplicate_.first < 0) duplicate_ = {id, static_cast<std::int32_t>(i)};
          break;
        }
      }
    }
  }

  /// The id of `s`, or -1.
  std::int32_t find(std::string_view s) const noexcept {
    if (slots_.empty() || s.empty()) return -1;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t slot = fnv1a(s) & mask;; slot = (slot + 1) & mask) {
      const std::int32_t id = slots_[slot];
      if (id < 0) return -1;
      if (text(id) == s) return id;
    }
  }

  /// The indexed text of id (0 <= id < size()).
  std::string_view text(std::int32_t id) const noexcept {
    const auto i = static_cast<std::size_t>(id);
    return std::string_view(blob_).substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
  }

  std::size_t size() const noexcept { return offsets_.empty() ? 0 : offsets_.size() - 1; }

  /// The first (earlier, later) pair of equal non-empty texts, or (-1, -1).
  std::pair<std::int32_t, std::int32_t> duplicate() const noexcept { return duplicate_; }

 private:
  std::string blob_;                  // all texts, concatenated
  std::vector<std::size_t> offsets_;  // [size + 1] start of text i in blob_
  std::vector<std::int32_t> slots_;   // [power of 2 ≥ 2·size] id or -1 (empty)
  std::pair<std::int32_t, std::int32_t> duplicate_{-1, -1};
};

}  // namespace shiftrope::detail
