// shiftrope/detail/attention/plan.hpp - how an attention call is cut into
// work items, and where each thread's scratch lives.
//
// A work item is (token block, KV head, head block, key chunk): up to
// item_rows query rows (tokens × the query heads of one GQA group) against
// one run of keys. Key chunks > 1 appear only when the other axes give too
// few items for the threads (decoding); their partial results (o, m, l) are
// merged at the end. Each thread carves its buffers from one scratch block.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <shiftrope/detail/attention/kernels.hpp>
#include <shiftrope/detail/parallel.hpp>
#include <shiftrope/numeric.hpp>
#include <shiftrope/position_map.hpp>
#include <shiftrope/rope.hpp>

namespace shiftrope::detail::attn {

template <class T>
constexpr T round_up(T x, T m) noexcept {
  return (x + m - 1) / m * m;
}

/// Everything a work item reads, validated by the public entry.
template <class Acc, class KV>
struct context {
  int n_heads = 0;           // query heads
  int n_kv_heads = 0;        // KV heads
  int heads_per_kv = 0;      // query heads per KV head (GQA ratio n_heads / n_kv_heads)
  int head_dim = 0;          // values per head vector
  int dp = 0;                // head_dim rounded up to whole registers
  Acc scale = 1;             // softmax_scale · logit_scale, folded into the query copies
  bool overlapping = false;  // a key may lie in both segments of a row (duplicate_boundary_key)
  std::int64_t window = 0;   // sliding window: keys n <= m - window masked; 0 = none
  const remap* positions = nullptr;
  const rope_table<Acc>* table = nullptr;
  const Acc* q = nullptr;  // [n_tokens × n_heads × head_dim], un-rotated
  std::int64_t start_pos = 0;
  std::int64_t n_tokens = 0;
  const KV* k = nullptr;  // key of KV head h at position n: k + h·head_stride + n·pos_stride
  const KV* v = nullptr;  // value, same layout
  std::size_t pos_stride = 0;
  std::size_t head_stride = 0;
  // q8_0 (KV = std::int8_t) only: element e of k (of v) has the scale
  // k_scale[e / 32] (v_scale[e / 32]); strides are multiples of 32.
  const f16* k_scale = nullptr;
  const f16* v_scale = nullptr;
  Acc* out = nullptr;  // [n_tokens × n_heads × head_dim]
};

/// How the work is cut: items are (token block, KV head, head block, key
/// chunk); key chunks > 1 only when the other axes give too few items for
/// the threads (decoding), and their partial results are merged at the end.
struct plan {
  int n_threads = 1;
  int heads_per_item = 1;            // query heads of one KV head per item
  int n_head_blocks = 1;             // ceil(heads_per_kv / heads_per_item)
  std::int64_t tokens_per_item = 1;  // query tokens per item
  std::int64_t n_token_blocks = 0;   // ceil(n_tokens / tokens_per_item)
  int n_chunks = 1;                  // key chunks per (token block, head)
  std::int64_t chunk_keys = 0;       // keys per chunk (a multiple of the tile)
  int rows_pad = 0;                  // largest item's rows, rounded up to whole registers
  std::int64_t n_base = 0;           // items without the chunk axis
  [[nodiscard]] std::int64_t n_items() const noexcept { return n_base * n_chunks; }
};

/// One thread's scratch (all Acc unless said), carved from one buffer.
template <class Acc>
struct buffers {
  Acc* q = nullptr;      // [2 × rows_pad × dp]: slot j's copies, Q^T [head_dim × rows_pad]
                         // (rows in lanes) or rows [rows_pad × dp] (dot-product path)
  Acc* o = nullptr;      // [rows_pad × dp] unnormalised output rows
  Acc* m = nullptr;      // [rows_pad] running max
  Acc* l = nullptr;      // [rows_pad] running sum
  Acc* alpha = nullptr;  // [rows_pad] rescale factor of the last softmax step
  Acc* lo = nullptr;     // [2 × rows_pad] slot j's first key, relative to the tile
  Acc* hi = nullptr;     // [2 × rows_pad] slot j's end key, relative to the tile
  Acc* s = nullptr;      // [tile_keys × block_rows] S^T (then P^T) of one micro-block
  Acc* kt = nullptr;     // [tile_keys × dp] converted K tile
  Acc* vt = nullptr;     // [tile_keys × dp] converted V tile
  Acc* rot = nullptr;    // [width × dp] one register of rows being rotated
  std::int64_t* seg = nullptr;  // [rows_pad × 6] per row: b0, e0, b1, e1, qpos0, qpos1
};

/// The rows of one item and where its keys come from.
template <class Acc>
struct item_rows {
  std::int64_t t_begin = 0, h_begin = 0;  // first token, first query head
  int n_h = 0;                            // query heads per token in the item
  int rows = 0, rows_pad = 0;             // rows = tokens × n_h; rows_pad a register multiple
  bool dot = false;                       // dot-product score path (few rows)
  bool has_far = false;                   // some row has a slot-0 segment
  bool adjacent = true;        // every row's slot 1 starts where its slot 0 ends (0 when empty)
  std::int64_t first_key = 0;  // the smallest key any row's segments hold
};

/// Byte offsets of one thread's buffers, the partial results and the total.
struct scratch_layout {
  std::size_t q = 0, o = 0, m = 0, l = 0, alpha = 0, lo = 0, hi = 0, s = 0, kt = 0, vt = 0, rot = 0,
              seg = 0;
  std::size_t thread_bytes = 0;    // one thread's share
  std::size_t partial_stride = 0;  // Acc values per (item, chunk): o [rows_pad × dp], m, l
  std::size_t partial_offset = 0;  // after every thread's share
  std::size_t total = 0;           // bytes from an aligned base
};

template <class Acc>
scratch_layout make_layout(const plan& pl, int dp) noexcept {
  using B = blocking<Acc>;
  scratch_layout ly;
  std::size_t at = 0;
  const auto take = [&at](std::size_t bytes) {
    const std::size_t here = at;
    at += round_up<std::size_t>(bytes, simd::max_align);
    return here;
  };
  const std::size_t rp = static_cast<std::size_t>(pl.rows_pad), d = static_cast<std::size_t>(dp);
  const std::size_t a = sizeof(Acc), tk = B::tile_keys;
  ly.q = take(2 * rp * d * a);
  ly.o = take(rp * d * a);
  ly.m = take(rp * a);
  ly.l = take(rp * a);
  ly.alpha = take(rp * a);
  ly.lo = take(2 * rp * a);
  ly.hi = take(2 * rp * a);
  ly.s = take(tk * B::block_rows * a);
  ly.kt = take(tk * d * a);
  ly.vt = take(tk * d * a);
  ly.rot = take(static_cast<std::size_t>(B::width) * d * a);
  ly.seg = take(rp * 6 * sizeof(std::int64_t));
  ly.thread_bytes = at;
  ly.partial_stride = rp * d + 2 * rp;
  ly.partial_offset = at * static_cast<std::size_t>(pl.n_threads);
  const std::size_t partial_bytes =
      pl.n_chunks > 1 ? static_cast<std::size_t>(pl.n_items()) * ly.partial_stride * a : 0;
  ly.total = ly.partial_offset + partial_bytes;
  return ly;
}

template <class Acc>
buffers<Acc> carve(std::byte* base, const scratch_layout& ly) noexcept {
  const auto at = [base](std::size_t off) { return reinterpret_cast<Acc*>(base + off); };
  buffers<Acc> b;
  b.q = at(ly.q);
  b.o = at(ly.o);
  b.m = at(ly.m);
  b.l = at(ly.l);
  b.alpha = at(ly.alpha);
  b.lo = at(ly.lo);
  b.hi = at(ly.hi);
  b.s = at(ly.s);
  b.kt = at(ly.kt);
  b.vt = at(ly.vt);
  b.rot = at(ly.rot);
  b.seg = reinterpret_cast<std::int64_t*>(base + ly.seg);
  return b;
}

/// The rows and keys of item `index`; returns the key range [k_lo, k_hi).
template <class Acc, class KV>
item_rows<Acc> locate(const context<Acc, KV>& cx, const plan& pl, std::int64_t index,
                      std::int64_t& base, int& chunk, int& kv_head) noexcept {
  constexpr int w = blocking<Acc>::width;
  chunk = static_cast<int>(index % pl.n_chunks);
  base = index / pl.n_chunks;
  std::int64_t i = base;
  const int hb = static_cast<int>(i % pl.n_head_blocks);
  i /= pl.n_head_blocks;
  kv_head = static_cast<int>(i % cx.n_kv_heads);
  const std::int64_t tb = pl.n_token_blocks - 1 - i / cx.n_kv_heads;  // longest rows first
  item_rows<Acc> ir;
  ir.t_begin = tb * pl.tokens_per_item;
  const std::int64_t t_end = std::min(cx.n_tokens, ir.t_begin + pl.tokens_per_item);
  ir.h_begin = static_cast<std::int64_t>(kv_head) * cx.heads_per_kv +
               static_cast<std::int64_t>(hb) * pl.heads_per_item;
  ir.n_h = std::min(pl.heads_per_item, cx.heads_per_kv - hb * pl.heads_per_item);
  ir.rows = static_cast<int>(t_end - ir.t_begin) * ir.n_h;
  ir.dot = ir.rows <= blocking<Acc>::dot_rows;
  ir.rows_pad = ir.dot ? w : round_up(ir.rows, w);
  return ir;
}

/// The cut of the work for a call (see plan).
template <class Acc>
plan make_plan(int n_heads, int n_kv_heads, std::int64_t start_pos, std::int64_t n_tokens,
               int n_threads) noexcept {
  using B = blocking<Acc>;
  constexpr std::int64_t min_chunk_keys = 512;  // below this a split costs more than it gains
  plan p;
  p.n_threads = resolve_threads(n_threads);
  const int heads_per_kv = n_heads / n_kv_heads;
  p.heads_per_item = std::min(heads_per_kv, B::item_rows);
  p.n_head_blocks = (heads_per_kv + p.heads_per_item - 1) / p.heads_per_item;
  const std::int64_t tokens_max = std::max(1, B::item_rows / p.heads_per_item);
  p.n_token_blocks = (n_tokens + tokens_max - 1) / tokens_max;
  if (p.n_token_blocks == 0) return p;
  p.tokens_per_item = (n_tokens + p.n_token_blocks - 1) / p.n_token_blocks;  // balanced blocks
  p.n_base = p.n_token_blocks * n_kv_heads * p.n_head_blocks;
  const std::int64_t n_keys = start_pos + n_tokens;
  std::int64_t chunks = 1;
  if (p.n_threads > 1 && p.n_base < 4 * p.n_threads) {
    const std::int64_t want = (4 * p.n_threads + p.n_base - 1) / p.n_base;
    chunks = std::max<std::int64_t>(1, std::min(want, n_keys / min_chunk_keys));
  }
  p.chunk_keys = round_up<std::int64_t>((n_keys + chunks - 1) / chunks, B::tile_keys);
  p.n_chunks = static_cast<int>((n_keys + p.chunk_keys - 1) / p.chunk_keys);
  const int rows_max = static_cast<int>(p.tokens_per_item) * p.heads_per_item;
  p.rows_pad = round_up(rows_max, B::width);
  p.n_threads = static_cast<int>(std::min<std::int64_t>(p.n_threads, p.n_items()));
  return p;
}

}  // namespace shiftrope::detail::attn
