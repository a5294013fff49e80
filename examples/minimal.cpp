// Minimal use of shiftrope: STRING attention over a small KV cache.
#include <cmath>
#include <cstdio>
#include <shiftrope.hpp>
#include <vector>

int main() {
  using namespace shiftrope;
  const int head_dim = 64, n_heads = 4, n_kv_heads = 2;
  const std::int64_t train_len = 512, n_tokens = 300;

  // RoPE as in Llama 2 (interleaved planes) and STRING's paper setting for
  // L = 512: S = floor(0.33 L) = 168, W = 128.
  rope_config rope;
  rope.head_dim = head_dim;
  const rope_table<float> table(rope, train_len);
  const remap string = string_remap::paper_default(train_len);

  // A KV cache [n_kv_heads × n_tokens × head_dim]; keys are rotated at their
  // own position when stored, exactly as for plain RoPE.
  std::vector<float> k(n_kv_heads * n_tokens * head_dim), v(k.size());
  for (std::size_t i = 0; i < k.size(); ++i) {
    k[i] = std::sin(0.37f * i);
    v[i] = std::cos(0.11f * i);
  }
  for (int g = 0; g < n_kv_heads; ++g)
    for (std::int64_t n = 0; n < n_tokens; ++n) table.rotate(&k[(g * n_tokens + n) * head_dim], n);
  const auto cache =
      kv_cache_view<float>::head_major(k.data(), v.data(), n_tokens, head_dim, n_tokens);

  // Prefill: un-rotated queries for all positions; the kernel rotates them.
  std::vector<float> q(n_tokens * n_heads * head_dim), out(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.05f * i);
  attention_params params;
  params.n_heads = n_heads;
  params.n_kv_heads = n_kv_heads;
  params.head_dim = head_dim;
  attention(params, string, table, q.data(), 0, n_tokens, cache, out.data());

  std::printf(
      "%s: out[last token][head 0][0..3] = %.4f %.4f %.4f %.4f\n", describe(string).c_str(),
      out[(n_tokens - 1) * n_heads * head_dim], out[(n_tokens - 1) * n_heads * head_dim + 1],
      out[(n_tokens - 1) * n_heads * head_dim + 2], out[(n_tokens - 1) * n_heads * head_dim + 3]);
  return 0;
}
