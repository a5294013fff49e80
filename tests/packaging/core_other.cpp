// A second translation unit of the core consumer: duplicate definitions of
// non-inline functions would fail to link.
#include <cmath>
#include <shiftrope/core.hpp>
#include <vector>

float core_attention_sum(int n_tokens) {
  using namespace shiftrope;
  const int head_dim = 16;
  rope_config rope;
  rope.head_dim = head_dim;
  const rope_table<float> table(rope, n_tokens);
  std::vector<float> k(static_cast<std::size_t>(n_tokens) * head_dim), v(k.size(), 1.0f);
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::sin(0.3f * static_cast<float>(i));
  const auto cache =
      kv_cache_view<float>::head_major(k.data(), v.data(), n_tokens, head_dim, n_tokens);
  std::vector<float> q(static_cast<std::size_t>(n_tokens) * 2 * head_dim), out(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::cos(0.2f * static_cast<float>(i));
  attention_params p;
  p.n_heads = 2;
  p.n_kv_heads = 1;
  p.head_dim = head_dim;
  const remap string = string_remap{3, 1};
  attention(p, string, table, q.data(), 0, n_tokens, cache, out.data());
  float sum = 0.0f;
  for (const float x : out) sum += x;
  return sum;
}
