// shiftrope/rope.hpp - rotary position embedding: configuration, per-plane
// frequencies for every scaling variant Hugging Face transformers defines,
// cos/sin tables, and the in-place rotation of one head vector.
//
// A head vector x of head_dim values has its first rotary_dim values rotated
// in rotary_dim/2 planes; plane i turns by pos * theta_i. Two pairings exist:
//   interleaved: plane i = (x[2i], x[2i+1])          (Meta, llama2.c, GGUF llama)
//   half_split:  plane i = (x[i], x[i + rotary_dim/2]) (Hugging Face rotate_half, qwen2)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <shiftrope/detail/simd.hpp>
#include <shiftrope/error.hpp>
#include <vector>

namespace shiftrope {

namespace detail {
/// pi in double (M_PI is POSIX, not standard C++17).
inline constexpr double rope_pi = 3.141592653589793238462643383279502884;

/// Per-plane divisors: empty, or one finite value > 0 per plane (throws
/// naming `field`, the index and the value).
inline void validate_rope_divisors(const char* field, const std::vector<float>& f, int n_planes) {
  if (f.empty()) return;
  if (static_cast<int>(f.size()) != n_planes)
    fail("rope_config: ", field, " has ", f.size(), " entries, expected ", n_planes,
         " (rotary_dim / 2)");
  for (std::size_t i = 0; i < f.size(); ++i)
    if (!(f[i] > 0.0f) || !std::isfinite(f[i]))
      fail("rope_config: ", field, "[", i, "] must be > 0, got ", f[i]);
}
}  // namespace detail

/// Which coordinates form a rotation plane.
enum class rope_pairing {
  interleaved,  ///< (x[2i], x[2i+1])
  half_split,   ///< (x[i], x[i + rotary_dim/2])
};

/// Frequency scaling variants, formulas as in Hugging Face transformers'
/// modeling_rope_utils (see each field for the parameters it reads).
enum class rope_scaling {
  none,         ///< theta_i = base^(-2i/D)
  linear,       ///< theta_i / factor
  ntk,          ///< base' = base * alpha^(D/(D-2)) ("NTK-aware")
  dynamic_ntk,  ///< base' = base * (factor*seq/orig - (factor-1))^(D/(D-2)), seq = max(current,
                ///< orig)
  yarn,         ///< ramp between theta_i and theta_i/factor, plus an attention factor
  llama3,       ///< Llama 3.1 wavelength-banded scaling
  longrope,     ///< Phi-3 LongRoPE: theta_i / long_factors[i] when the context exceeds
                ///< original_max_positions, else theta_i / short_factors[i]; plus an
                ///< attention factor
};

struct rope_config {
  int head_dim = 0;       ///< values per head vector
  int rotary_dim = 0;     ///< leading values that rotate (even, <= head_dim); 0 = head_dim
  double base = 10000.0;  ///< theta base b
  rope_pairing pairing = rope_pairing::interleaved;
  rope_scaling scaling = rope_scaling::none;
  double factor = 1.0;                      ///< linear, dynamic_ntk, yarn, llama3: the scale factor
  double alpha = 1.0;                       ///< ntk: the NTK alpha
  std::int64_t original_max_positions = 0;  ///< dynamic_ntk, yarn, llama3: the original context
  double beta_fast = 32.0;                  ///< yarn: high-frequency boundary (rotations)
  double beta_slow = 1.0;                   ///< yarn: low-frequency boundary (rotations)
  double yarn_attention_factor = 0.0;       ///< yarn: logit-side factor; 0 = 0.1 ln(factor) + 1
  double low_freq_factor = 1.0;             ///< llama3
  double high_freq_factor = 4.0;            ///< llama3
  /// longrope: per-plane divisors for a context above original_max_positions
  /// (long) or within it (short); empty = 1 for every plane.
  std::vector<float> long_factors;
  std::vector<float> short_factors;
  /// longrope: logit-side factor; 0 = sqrt(1 + ln(factor) / ln(original_max_positions))
  /// (1 when factor <= 1), factor being the context extension L / L_orig.
  double longrope_attention_factor = 0.0;
  /// Optional per-plane divisors (GGUF `rope_freqs` tensor, as Llama 3.1
  /// files carry their scaling): theta_i /= freq_factors[i]. Empty = none.
  std::vector<float> freq_factors;

  /// rotary_dim with the default applied.
  [[nodiscard]] int rotary() const noexcept { return rotary_dim == 0 ? head_dim : rotary_dim; }
  /// Number of rotation planes.
  [[nodiscard]] int n_planes() const noexcept { return rotary() / 2; }

  /// Throws shiftrope::error naming the field and value.
  void validate() const {
    if (head_dim <= 0 || head_dim > 65536)
      fail("rope_config: head_dim must be in [1, 65536], got ", head_dim);
    if (rotary_dim < 0) fail("rope_config: rotary_dim must be >= 0, got ", rotary_dim);
    if (rotary() > head_dim)
      fail("rope_config: rotary_dim must be <= head_dim (", head_dim, "), got ", rotary_dim);
    if (rotary() % 2 != 0 || rotary() < 2)
      fail("rope_config: rotary_dim must be even and >= 2, got ", rotary());
    if (!(base > 0.0) || !std::isfinite(base)) fail("rope_config: base must be > 0, got ", base);
    const bool uses_factor = scaling == rope_scaling::linear ||
                             scaling == rope_scaling::dynamic_ntk ||
                             scaling == rope_scaling::yarn || scaling == rope_scaling::llama3 ||
                             scaling == rope_scaling::longrope;
    if (uses_factor && (!(factor > 0.0) || !std::isfinite(factor)))
      fail("rope_config: factor must be > 0, got ", factor);
    if (scaling == rope_scaling::ntk && (!(alpha > 0.0) || !std::isfinite(alpha)))
      fail("rope_config: alpha must be > 0, got ", alpha);
    const bool uses_orig = scaling == rope_scaling::dynamic_ntk || scaling == rope_scaling::yarn ||
                           scaling == rope_scaling::llama3 || scaling == rope_scaling::longrope;
    if (uses_orig && original_max_positions <= 0)
      fail("rope_config: original_max_positions must be > 0, got ", original_max_positions);
    if (scaling == rope_scaling::yarn && !(beta_fast > beta_slow && beta_slow > 0.0))
      fail("rope_config: yarn needs beta_fast > beta_slow > 0, got beta_fast = ", beta_fast,
           ", beta_slow = ", beta_slow);
    if (scaling == rope_scaling::yarn && !(base > 1.0))  // corr() divides by ln(base)
      fail("rope_config: yarn needs base > 1, got ", base);
    if (scaling == rope_scaling::yarn &&
        (!(yarn_attention_factor >= 0.0) || !std::isfinite(yarn_attention_factor)))
      fail("rope_config: yarn_attention_factor must be >= 0, got ", yarn_attention_factor);
    if (scaling == rope_scaling::llama3 &&
        !(high_freq_factor > low_freq_factor && low_freq_factor > 0.0))
      fail("rope_config: llama3 needs high_freq_factor > low_freq_factor > 0, got low = ",
           low_freq_factor, ", high = ", high_freq_factor);
    if (scaling == rope_scaling::longrope &&
        (!(longrope_attention_factor >= 0.0) || !std::isfinite(longrope_attention_factor)))
      fail("rope_config: longrope_attention_factor must be >= 0, got ", longrope_attention_factor);
    if (scaling == rope_scaling::longrope && longrope_attention_factor == 0.0 && factor > 1.0 &&
        original_max_positions < 2)  // the default factor divides by ln(original_max_positions)
      fail(
          "rope_config: longrope's default attention factor needs original_max_positions >= 2, "
          "got ",
          original_max_positions);
    detail::validate_rope_divisors("freq_factors", freq_factors, n_planes());
    detail::validate_rope_divisors("long_factors", long_factors, n_planes());
    detail::validate_rope_divisors("short_factors", short_factors, n_planes());
  }
};

/// theta_i for i in [0, rotary_dim/2), in double (tables are built from these
/// in double too: positions up to 10^6 times theta need the precision).
/// current_len matters only for dynamic_ntk (the length seen so far) and
/// longrope (the context length: long factors when it exceeds
/// original_max_positions).
[[nodiscard]] inline std::vector<double> rope_inv_freq(const rope_config& cfg,
                                                       std::int64_t current_len = 0) {
  cfg.validate();
  const int n = cfg.n_planes();
  const double dim = static_cast<double>(cfg.rotary());
  double base = cfg.base;
  if (cfg.scaling == rope_scaling::ntk) {
    base *= std::pow(cfg.alpha, dim / (dim - 2.0));
  } else if (cfg.scaling == rope_scaling::dynamic_ntk) {
    const double orig = static_cast<double>(cfg.original_max_positions);
    const double seq = std::max(static_cast<double>(current_len), orig);
    base *= std::pow(cfg.factor * seq / orig - (cfg.factor - 1.0), dim / (dim - 2.0));
  }
  std::vector<double> inv(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) inv[i] = std::pow(base, -2.0 * i / dim);

  if (cfg.scaling == rope_scaling::linear) {
    for (double& f : inv) f /= cfg.factor;
  } else if (cfg.scaling == rope_scaling::yarn) {
    // corr(r): the plane index whose wavelength fits r rotations in L_orig.
    const double orig = static_cast<double>(cfg.original_max_positions);
    const auto corr = [&](double r) {
      return dim * std::log(orig / (r * 2.0 * detail::rope_pi)) / (2.0 * std::log(cfg.base));
    };
    const double low = std::max(std::floor(corr(cfg.beta_fast)), 0.0);
    double high = std::min(std::ceil(corr(cfg.beta_slow)), dim - 1.0);
    if (low == high) high += 0.001;  // avoid a zero-width ramp
    for (int i = 0; i < n; ++i) {
      const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
      inv[i] = inv[i] * (1.0 - ramp) + inv[i] / cfg.factor * ramp;
    }
  } else if (cfg.scaling == rope_scaling::llama3) {
    const double orig = static_cast<double>(cfg.original_max_positions);
    const double low_wavelen = orig / cfg.low_freq_factor;
    const double high_wavelen = orig / cfg.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * detail::rope_pi / f;
      if (wavelen < high_wavelen) continue;  // high frequency: kept
      if (wavelen > low_wavelen) {           // low frequency: scaled
        f /= cfg.factor;
        continue;
      }
      const double smooth =
          (orig / wavelen - cfg.low_freq_factor) / (cfg.high_freq_factor - cfg.low_freq_factor);
      f = (1.0 - smooth) * f / cfg.factor + smooth * f;
    }
  }
  if (cfg.scaling == rope_scaling::longrope) {
    const std::vector<float>& ext =
        current_len > cfg.original_max_positions ? cfg.long_factors : cfg.short_factors;
    for (std::size_t i = 0; i < ext.size(); ++i) inv[i] /= ext[i];
  }
  for (std::size_t i = 0; i < cfg.freq_factors.size(); ++i) inv[i] /= cfg.freq_factors[i];
  return inv;
}

/// The factor YaRN and LongRoPE apply to cos and sin (so logits scale by
/// its square); 1 for every other variant. Reported, never folded into
/// tables.
[[nodiscard]] inline double rope_attention_factor(const rope_config& cfg) {
  if (cfg.scaling == rope_scaling::longrope) {
    if (cfg.longrope_attention_factor > 0.0) return cfg.longrope_attention_factor;
    if (!(cfg.factor > 1.0)) return 1.0;
    return std::sqrt(1.0 + std::log(cfg.factor) /
                               std::log(static_cast<double>(cfg.original_max_positions)));
  }
  if (cfg.scaling != rope_scaling::yarn) return 1.0;
  if (cfg.yarn_attention_factor > 0.0) return cfg.yarn_attention_factor;
  return cfg.factor > 1.0 ? 0.1 * std::log(cfg.factor) + 1.0 : 1.0;
}

/// Rotates x[0, rotary_dim) in place with per-plane cos/sin values:
/// (a, b) -> (a cos - b sin, b cos + a sin) in each plane. Dimensions past
/// rotary_dim are untouched.
template <class T>
inline void apply_rope(T* x, const T* cos, const T* sin, int n_planes,
                       rope_pairing pairing) noexcept {
  if (pairing == rope_pairing::half_split)
    detail::simd::rotate_half_split(x, x + n_planes, cos, sin, static_cast<std::size_t>(n_planes));
  else
    detail::simd::rotate_interleaved(x, cos, sin, static_cast<std::size_t>(n_planes));
}

/// cos/sin of pos * theta_i for positions [0, n_pos): row-major
/// [n_pos × n_planes] each, computed in double and stored as T (float or
/// double). Scaling factors of the variants are in theta; YaRN's attention
/// factor is not (see rope_attention_factor).
template <class T>
class rope_table {
 public:
  rope_table() = default;

  /// Positions [0, n_pos). current_len feeds dynamic NTK (default n_pos).
  rope_table(const rope_config& cfg, std::int64_t n_pos, std::int64_t current_len = -1)
      : cfg_(cfg) {
    cfg_.validate();
    constexpr std::int64_t max_entries = std::int64_t{1} << 31;
    // Compared by division: n_pos * n_planes could overflow int64.
    if (n_pos < 0 || n_pos > max_entries / cfg_.n_planes())
      fail("rope_table: n_pos must be in [0, ", max_entries / cfg_.n_planes(), "], got ", n_pos);
    n_pos_ = n_pos;
    const std::vector<double> inv = rope_inv_freq(cfg_, current_len < 0 ? n_pos : current_len);
    const std::size_t planes = inv.size();
    cos_.resize(static_cast<std::size_t>(n_pos) * planes);
    sin_.resize(cos_.size());
    for (std::int64_t p = 0; p < n_pos; ++p) {
      for (std::size_t i = 0; i < planes; ++i) {
        const double angle = static_cast<double>(p) * inv[i];
        cos_[static_cast<std::size_t>(p) * planes + i] = static_cast<T>(std::cos(angle));
        sin_[static_cast<std::size_t>(p) * planes + i] = static_cast<T>(std::sin(angle));
      }
    }
  }

  [[nodiscard]] const rope_config& config() const noexcept { return cfg_; }
  [[nodiscard]] std::int64_t n_pos() const noexcept { return n_pos_; }
  [[nodiscard]] int n_planes() const noexcept { return cfg_.n_planes(); }
  /// cos(pos * theta_i), i in [0, n_planes); pos in [0, n_pos).
  [[nodiscard]] const T* cos(std::int64_t pos) const noexcept {
    return cos_.data() + static_cast<std::size_t>(pos) * static_cast<std::size_t>(n_planes());
  }
  [[nodiscard]] const T* sin(std::int64_t pos) const noexcept {
    return sin_.data() + static_cast<std::size_t>(pos) * static_cast<std::size_t>(n_planes());
  }

  /// Rotates one head vector x[head_dim] in place at position pos, which
  /// must lie in [0, n_pos) (checked only by SHIFTROPE_ASSERT: callers
  /// validate positions at their input boundary).
  void rotate(T* x, std::int64_t pos) const noexcept {
    SHIFTROPE_ASSERT(pos >= 0 && pos < n_pos_);
    apply_rope(x, cos(pos), sin(pos), n_planes(), cfg_.pairing);
  }

 private:
  rope_config cfg_;
  std::int64_t n_pos_ = 0;
  std::vector<T> cos_;  // [n_pos × n_planes]
  std::vector<T> sin_;  // [n_pos × n_planes]
};

}  // namespace shiftrope
