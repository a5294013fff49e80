// shiftrope/detail/text/spm.hpp - SentencePiece-style BPE by scores: the merge
// loop of llama2.c's `encode` and llama.cpp's SPM tokenizer, with a priority
// queue instead of a rescan after every merge (O(n log n), not O(n²)).
//
// Algorithm: split the text into UTF-8 characters; while some adjacent pair
// of symbols concatenates to a vocabulary token, merge the pair whose token
// has the highest score (the leftmost pair on ties). Symbols that end up
// not being tokens (characters outside the vocabulary) become one byte token
// <0xNN> per byte, or the unknown token when there are no byte tokens.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <shiftrope/detail/text/utf8.hpp>
#include <shiftrope/detail/text/vocab_index.hpp>
#include <shiftrope/error.hpp>
#include <string_view>
#include <vector>

namespace shiftrope::detail {

/// What the SPM merge loop needs to know of a vocabulary.
struct spm_vocab_view {
  const vocab_index* index = nullptr;          // token text → id
  const std::vector<float>* scores = nullptr;  // [n_vocab] merge priority, higher first
  std::size_t max_token_bytes = 0;             // longest token text, in bytes
  const std::array<std::int32_t, 256>* byte_ids = nullptr;  // byte → <0xNN> id or -1
  std::int32_t unk_id = -1;                                 // fallback when a byte has no token
};

/// Appends the byte-fallback tokens of `bytes` to out.
inline void spm_byte_fallback(std::string_view bytes, const spm_vocab_view& v,
                              std::vector<int>& out) {
  for (const char c : bytes) {
    const std::int32_t id = (*v.byte_ids)[static_cast<unsigned char>(c)];
    if (id >= 0) {
      out.push_back(id);
    } else if (v.unk_id >= 0) {
      out.push_back(v.unk_id);
    } else {
      fail("tokenizer: byte 0x", std::hex, static_cast<int>(static_cast<unsigned char>(c)),
           " is not in the vocabulary, which has neither byte tokens nor an unknown token");
    }
  }
}

/// Scratch buffers of spm_encode, reused across the pieces of a text.
struct spm_workspace {
  struct symbol {
    std::uint32_t begin;   // byte offset in text
    std::uint32_t length;  // bytes; 0 once merged into its left neighbour
    std::int32_t prev;     // index of the previous live symbol, -1 at the start
    std::int32_t next;     // index of the next live symbol, -1 at the end
  };
  struct bigram {
    float score;           // score of the merged token
    std::int32_t left;     // index of the left symbol
    std::int32_t right;    // index of the right symbol
    std::uint32_t length;  // bytes of the pair when it was queued
  };
  std::vector<symbol> symbols;  // [characters] linked while merging
  std::vector<bigram> heap;     // candidate merges, a binary heap
};

/// Encodes `text` (spaces already escaped as the vocabulary writes them) and
/// appends the ids to out.
inline void spm_encode(std::string_view text, const spm_vocab_view& v, spm_workspace& ws,
                       std::vector<int>& out) {
  using bigram = spm_workspace::bigram;
  // Heap order: the top is the highest score, then the leftmost pair.
  const auto lower_priority = [](const bigram& a, const bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  if (text.empty()) return;
  if (text.size() > 0xFFFFFFFFu) fail("tokenizer: text of ", text.size(), " bytes is too long");

  auto& symbols = ws.symbols;
  symbols.clear();
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t len = decode_utf8(text, pos).length;
    const auto index = static_cast<std::int32_t>(symbols.size());
    symbols.push_back({static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(len), index - 1,
                       pos + len == text.size() ? -1 : index + 1});
    pos += len;
  }

  auto& heap = ws.heap;
  heap.clear();
  const auto try_add = [&](std::int32_t left, std::int32_t right) {
    if (left < 0 || right < 0) return;
    const auto& l = symbols[static_cast<std::size_t>(left)];
    const auto& r = symbols[static_cast<std::size_t>(right)];
    const std::size_t length = std::size_t{l.length} + r.length;
    if (length > v.max_token_bytes) return;  // cannot be a token: skip the hash
    const std::int32_t id = v.index->find(text.substr(l.begin, length));
    if (id < 0) return;
    heap.push_back({(*v.scores)[static_cast<std::size_t>(id)], left, right,
                    static_cast<std::uint32_t>(length)});
    std::push_heap(heap.begin(), heap.end(), lower_priority);
  };
  for (std::size_t i = 1; i < symbols.size(); ++i)
    try_add(static_cast<std::int32_t>(i - 1), static_cast<std::int32_t>(i));

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), lower_priority);
    const bigram b = heap.back();
    heap.pop_back();
    auto& l = symbols[static_cast<std::size_t>(b.left)];
    auto& r = symbols[static_cast<std::size_t>(b.right)];
    // Stale entry: one side was merged away or grew since it was queued.
    // (Symbols only ever absorb their right neighbour, so two live symbols
    // whose lengths still add up are still adjacent and unchanged.)
    if (l.length == 0 || r.length == 0 || l.length + r.length != b.length) continue;
    l.length += r.length;
    r.length = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<std::size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (std::int32_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
    const auto& s = symbols[static_cast<std::size_t>(i)];
    const std::string_view piece = text.substr(s.begin, s.length);
    const std::int32_t id = v.index->find(piece);
    if (id >= 0) {
      out.push_back(id);
    } else {
      spm_byte_fallback(piece, v, out);
    }
  }
}

/// True when no token holds the space symbol right after a character other
/// than the space symbol: then no merge can cross the start of a run of
/// spaces, and encoding the pieces of a text cut before each such run gives
/// exactly the ids of encoding it whole, faster (a small heap that stays in
/// cache). True for Llama's and llama2.c's vocabularies; a vocabulary with a
/// token like "a▁b" is encoded whole.
inline bool spm_can_split_at_spaces(const std::vector<std::string>& tokens,
                                    std::string_view space) {
  for (const std::string& t : tokens) {
    for (std::size_t p = t.find(space, 1); p != std::string::npos; p = t.find(space, p + 1)) {
      if (p < space.size() || t.compare(p - space.size(), space.size(), space) != 0) return false;
    }
  }
  return true;
}

/// spm_encode on the pieces of text cut before each run of `space`
/// (valid when spm_can_split_at_spaces holds for the vocabulary).
inline void spm_encode_split(std::string_view text, std::string_view space, const spm_vocab_view& v,
                             spm_workspace& ws, std::vector<int>& out) {
  std::size_t start = 0;
  for (std::size_t p = text.find(space, 1); p != std::string_view::npos;
       p = text.find(space, p + space.size())) {
    const bool run_start =
        p < space.size() || text.compare(p - space.size(), space.size(), space) != 0;
    if (!run_start) continue;
    spm_encode(text.substr(start, p - start), v, ws, out);
    start = p;
  }
  spm_encode(text.substr(start), v, ws, out);
}

}  // namespace shiftrope::detail
