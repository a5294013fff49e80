// shiftrope/detail/text/bpe.hpp - byte-level BPE (GPT-2): the byte alphabet and
// the merge loop by rank.
//
// Byte-level vocabularies never see raw bytes: each byte is written as one
// printable Unicode character (GPT-2's `bytes_to_unicode`): the bytes
// '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves (as code points),
// the other 68 bytes, in increasing order, for U+0100, U+0101, … . A space
// is thus 'Ġ' (U+0120) and a newline 'Ċ' (U+010A).
//
// Merge loop: the symbols of a pre-token start as its bytes' alphabet
// tokens; while some adjacent pair has a merge rule, apply the rule of
// lowest rank (leftmost on ties), as Hugging Face's BPE model and llama.cpp
// do. A priority queue keeps it O(n log n) in the pre-token's length.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <shiftrope/detail/text/utf8.hpp>
#include <shiftrope/detail/text/vocab_index.hpp>
#include <shiftrope/error.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace shiftrope::detail {

/// GPT-2's byte → code point table.
inline const std::array<std::uint32_t, 256>& byte_to_code_point() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    std::uint32_t next = 256;
    for (std::uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

/// The byte a code point of the alphabet stands for, or -1.
inline int code_point_to_byte(std::uint32_t cp) noexcept {
  static const std::array<std::int16_t, 324> inverse = [] {
    std::array<std::int16_t, 324> t{};
    t.fill(-1);
    for (int b = 0; b < 256; ++b)
      t[byte_to_code_point()[static_cast<std::size_t>(b)]] = static_cast<std::int16_t>(b);
    return t;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

/// `bytes` written in the byte alphabet (UTF-8).
inline std::string to_byte_alphabet(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) append_utf8(out, byte_to_code_point()[static_cast<unsigned char>(c)]);
  return out;
}

/// Merge rules as token ids: (left, right) → (rank, merged token). An
/// open-addressing table: lookups are the inner loop of BPE encoding.
class bpe_merge_table {
 public:
  struct rule {
    std::int32_t rank = -1;    // -1: no rule
    std::int32_t result = -1;  // id of left+right
  };

  /// Builds from rules (left, right, result) listed by rank; for a pair
  /// listed twice the first (lowest-rank) rule wins. Ids must be >= 0.
  explicit bpe_merge_table(const std::vector<std::array<std::int32_t, 3>>& rules = {}) {
    seed_ = unpredictable_seed();  // see vocab_index.hpp: crafted merges cannot collide
    std::size_t capacity = 16;
    while (capacity < 2 * rules.size()) capacity *= 2;
    slots_.assign(capacity, slot{});
    for (std::size_t r = 0; r < rules.size(); ++r) {
      const std::uint64_t k = key(rules[r][0], rules[r][1]);
      for (std::size_t i = hash(k);; i = (i + 1) & (slots_.size() - 1)) {
        if (slots_[i].key == k) break;  // an earlier rule of the same pair
        if (slots_[i].key == empty) {
          slots_[i] = {k, {static_cast<std::int32_t>(r), rules[r][2]}};
          ++size_;
          break;
        }
      }
    }
  }

  rule find(std::int32_t left, std::int32_t right) const noexcept {
    const std::uint64_t k = key(left, right);
    for (std::size_t i = hash(k);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].key == k) return slots_[i].value;
      if (slots_[i].key == empty) return {};
    }
  }

  /// Distinct pairs.
  std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::uint64_t empty = ~std::uint64_t{0};  // ids are < 2^31: never a key
  struct slot {
    std::uint64_t key = empty;
    rule value;
  };
  static std::uint64_t key(std::int32_t left, std::int32_t right) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
           static_cast<std::uint32_t>(right);
  }
  std::size_t hash(std::uint64_t k) const noexcept {
    return static_cast<std::size_t>(mix64(k ^ seed_)) & (slots_.size() - 1);
  }
  std::uint64_t seed_ = 0;   // per-table hash seed
  std::vector<slot> slots_;  // [power of 2 ≥ 2·rules]
  std::size_t size_ = 0;
};

/// Scratch buffers of bpe_encode_piece, reused across the pieces of a text.
struct bpe_workspace {
  struct symbol {
    std::int32_t id;    // token id, -1 for a byte outside the vocabulary
    std::int32_t prev;  // previous live symbol, -1 at the start
    std::int32_t next;  // next live symbol, -1 at the end
    bool live;          // false once merged into its left neighbour
  };
  struct bigram {
    std::int32_t rank;
    std::int32_t left;  // symbol indices
    std::int32_t right;
    std::int32_t left_id;  // the ids the rule was found for
    std::int32_t right_id;
    std::int32_t result;
  };
  std::vector<symbol> symbols;  // [piece bytes]
  std::vector<bigram> heap;     // candidate merges, a binary heap
};

/// Encodes one pre-token (raw bytes) and appends its ids to out.
/// byte_ids[b]: id of the alphabet character of byte b, or -1 when the
/// vocabulary lacks it (such a byte becomes unk_id, or an error without one).
inline void bpe_encode_piece(std::string_view piece, const std::array<std::int32_t, 256>& byte_ids,
                             const bpe_merge_table& merges, std::int32_t unk_id, bpe_workspace& ws,
                             std::vector<int>& out) {
  using bigram = bpe_workspace::bigram;
  // Heap order: the top is the lowest rank, then the leftmost pair.
  const auto lower_priority = [](const bigram& a, const bigram& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  if (piece.empty()) return;
  if (piece.size() > 0x7FFFFFFFu) fail("tokenizer: pre-token of ", piece.size(), " bytes");

  const auto n = static_cast<std::int32_t>(piece.size());
  auto& symbols = ws.symbols;
  symbols.resize(piece.size());
  for (std::int32_t i = 0; i < n; ++i)
    symbols[static_cast<std::size_t>(i)] = {
        byte_ids[static_cast<unsigned char>(piece[static_cast<std::size_t>(i)])], i - 1,
        i + 1 < n ? i + 1 : -1, true};

  auto& heap = ws.heap;
  heap.clear();
  const auto try_add = [&](std::int32_t left, std::int32_t right) {
    if (left < 0 || right < 0) return;
    const std::int32_t l = symbols[static_cast<std::size_t>(left)].id;
    const std::int32_t r = symbols[static_cast<std::size_t>(right)].id;
    if (l < 0 || r < 0) return;
    const bpe_merge_table::rule rule = merges.find(l, r);
    if (rule.rank < 0) return;
    heap.push_back({rule.rank, left, right, l, r, rule.result});
    std::push_heap(heap.begin(), heap.end(), lower_priority);
  };
  for (std::int32_t i = 1; i < n; ++i) try_add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), lower_priority);
    const bigram b = heap.back();
    heap.pop_back();
    auto& l = symbols[static_cast<std::size_t>(b.left)];
    auto& r = symbols[static_cast<std::size_t>(b.right)];
    // Stale unless both are live, still neighbours, and still these tokens.
    if (!l.live || !r.live || l.next != b.right || l.id != b.left_id || r.id != b.right_id)
      continue;
    l.id = b.result;
    l.next = r.next;
    r.live = false;
    if (r.next >= 0) symbols[static_cast<std::size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (std::int32_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
    const std::int32_t id = symbols[static_cast<std::size_t>(i)].id;
    if (id >= 0) {
      out.push_back(id);
    } else if (unk_id >= 0) {
      out.push_back(unk_id);
    } else {
      fail("tokenizer: byte 0x", std::hex,
           static_cast<int>(static_cast<unsigned char>(piece[static_cast<std::size_t>(i)])),
           " has no token in the byte-level vocabulary, which has no unknown token");
    }
  }
}

}  // namespace shiftrope::detail
