// shiftrope/detail/text/vocab_index.hpp - text → id lookup for token vocabularies.
// An open-addressing hash table that owns a packed copy of the texts, so it
// can be copied with its tokenizer and looked up with a std::string_view
// (C++17's unordered_map<std::string, …> cannot, without a temporary string).
//
// Hash flooding: a vocabulary comes from a file, so its author chooses the
// texts. With a fixed hash, texts that all land in one slot are cheap to make
// (FNV-1a's low bits depend only on the low bits of its state, so colliding
// blocks chain into 2^k colliding texts), and indexing n of them costs O(n²)
// probes: hours for a 2^20-token file. Each index therefore hashes with its
// own unpredictable seed (FNV-1a's initial state, then a 64-bit finalizer).
// Lookups give the same ids whatever the seed; only slot order differs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shiftrope::detail {

/// FNV-1a, 64-bit, from initial state `basis` (FNV's offset basis by default).
inline std::uint64_t fnv1a(std::string_view s,
                           std::uint64_t basis = 0xcbf29ce484222325ull) noexcept {
  std::uint64_t h = basis;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

/// splitmix64's finalizer: every output bit depends on every input bit.
inline std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/// A hash seed that the author of a file cannot predict: the address-space
/// layout, the clock and a counter, mixed (not cryptographic; it only has to
/// keep crafted collisions from being prepared offline).
inline std::uint64_t unpredictable_seed() noexcept {
  static std::atomic<std::uint64_t> counter{0};
  static const int anchor = 0;
  const auto ticks =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const auto where = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&anchor));
  return mix64(mix64(ticks ^ where) + counter.fetch_add(1, std::memory_order_relaxed));
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
    basis_ = 0xcbf29ce484222325ull ^ unpredictable_seed();
    slots_.assign(capacity, -1);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      if (texts[i].empty()) continue;
      std::size_t slot = hash(texts[i]) & (capacity - 1);
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
    for (std::size_t slot = hash(s) & mask;; slot = (slot + 1) & mask) {
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
  std::size_t hash(std::string_view s) const noexcept {
    return static_cast<std::size_t>(mix64(fnv1a(s, basis_)));
  }

  std::uint64_t basis_ = 0;           // FNV-1a initial state: offset basis ^ seed
  std::string blob_;                  // all texts, concatenated
  std::vector<std::size_t> offsets_;  // [size + 1] start of text i in blob_
  std::vector<std::int32_t> slots_;   // [power of 2 ≥ 2·size] id or -1 (empty)
  std::pair<std::int32_t, std::int32_t> duplicate_{-1, -1};
};

}  // namespace shiftrope::detail
