// shiftrope-make-model: writes a random-weight GGUF model of a given shape
// (architecture metadata and a synthetic vocabulary as real files carry
// them), for benchmarks and tests. See --help.
#include <cstdint>
#include <cstdio>
#include <string>

#include "../examples/cli.hpp"
#include "file_output.hpp"
#include "random_model.hpp"

namespace {

constexpr const char* help_text =
    R"(usage: shiftrope-make-model [--shape NAME] [shape flags] [options] -o FILE

Writes a GGUF model with random weights (uniform in ±1/sqrt(row length)),
the architecture's metadata and a synthetic SentencePiece vocabulary
(<unk>, <s>, </s>, 256 byte tokens, filler pieces).

  --shape NAME       smollm-135m  (n_embd 576, 30 layers, 9 heads, 3 KV heads,
                                   n_ff 1536, vocab 32000, ctx 2048)
                     tinyllama-1.1b (2048, 22 layers, 32 heads, 4 KV heads,
                                   n_ff 5632, vocab 32000, ctx 2048)
                     tiny         (64, 2 layers, 4 heads, 2 KV heads, n_ff 160,
                                   vocab 512, ctx 256)
  --n-embd N --n-layers N --n-heads N --n-kv-heads N --n-ff N --vocab N --ctx N
                     set (without --shape: n-embd, n-layers, n-heads, n-ff and
                     vocab are required; n-kv-heads defaults to n-heads, ctx
                     to 2048) or override the shape's values
  --weights TYPE     storage of the 2-D matrices; norms and biases stay f32:
                       f32 (default), f16, bf16
                       q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl (blocks of 32)
                       q2_k, q3_k, q4_k, q5_k, q6_k, iq4_xs (blocks of 256)
                       q4_k_m: llama.cpp's Q4_K_M mix: Q4_K matrices; Q6_K
                         for the classifier (output.weight, or token_embd
                         when --tied) and for attn_v and ffn_down on layers
                         l < n/8, l >= 7n/8 and (l - n/8) % 3 == 2
                     A matrix whose row length is not a whole number of the
                     type's blocks takes llama.cpp's fallback (q4_k -> q5_0,
                     q5_k -> q5_1, q6_k -> q8_0, q2_k/q3_k/iq4_xs -> iq4_nl)
                     or else stays f32 (said on stderr). The quantizer
                     rounds to nearest on per-block grids (no search for the
                     best scales).
  --arch ARCH        llama (default: RMSNorm eps 1e-5, RoPE base 1e4,
                     interleaved pairs), qwen2 (eps 1e-6, base 1e6,
                     half-split pairs, Q/K/V biases) or phi3 (eps 1e-5,
                     base 1e4, half-split pairs, fused attn_qkv and gate/up)
  --tied             no output.weight: the classifier is the token embedding
  --seed N           generator seed (default 1)
  --name NAME        general.name (default: the shape's name, or "random")
  -o FILE            output path (written to FILE.partial, then renamed)
  -h, --help         this text

Progress goes to stderr. Exit status 2 for a bad flag, with one line naming it.
)";

shiftrope::model_config shape_from_flags(const cli::args& a) {
  using shiftrope::model_arch;
  const std::string arch_name = a.get_choice("--arch", {"llama", "qwen2", "phi3"}, "llama");
  const model_arch arch = arch_name == "qwen2"  ? model_arch::qwen2
                          : arch_name == "phi3" ? model_arch::phi3
                                                : model_arch::llama;
  shiftrope::model_config c;
  c.arch = arch;
  c.n_kv_heads = -1;  // default: n_heads
  c.train_len = 2048;
  if (const auto shape = a.value("--shape")) {
    try {
      c = shiftrope::tools::named_shape(*shape, arch);
    } catch (const shiftrope::error&) {
      throw cli::cli_error("--shape", "unknown shape " + cli::quoted(*shape) +
                                          " (expected one of: smollm-135m, tinyllama-1.1b, tiny)");
    }
  }
  if (!a.has("--shape"))
    for (const char* flag : {"--n-embd", "--n-layers", "--n-heads", "--n-ff", "--vocab"})
      if (!a.has(flag)) throw cli::cli_error(flag, "required without --shape (see --help)");
  c.n_embd = a.get_int<int>("--n-embd", 1, 1 << 16, c.n_embd);
  c.n_layers = a.get_int<int>("--n-layers", 1, 4096, c.n_layers);
  c.n_heads = a.get_int<int>("--n-heads", 1, 4096, c.n_heads);
  c.n_kv_heads = a.get_int<int>("--n-kv-heads", 1, 4096, c.n_kv_heads);
  c.n_ff = a.get_int<int>("--n-ff", 1, 1 << 20, c.n_ff);
  c.n_vocab = a.get_int<int>("--vocab", 1, 1 << 22, c.n_vocab);
  if (c.n_kv_heads < 0) c.n_kv_heads = c.n_heads;
  c.train_len = a.get_int<std::int64_t>("--ctx", 1, 1 << 30, c.train_len);
  if (c.n_embd % c.n_heads != 0)
    throw cli::cli_error("--n-heads", "must divide n_embd (" + std::to_string(c.n_embd) +
                                          "), got " + std::to_string(c.n_heads));
  if ((c.n_embd / c.n_heads) % 2 != 0)
    throw cli::cli_error("--n-heads", "n_embd / n_heads = " + std::to_string(c.n_embd / c.n_heads) +
                                          " must be even (RoPE rotates pairs)");
  if (c.n_heads % c.n_kv_heads != 0)
    throw cli::cli_error("--n-kv-heads", "must divide n_heads (" + std::to_string(c.n_heads) +
                                             "), got " + std::to_string(c.n_kv_heads));
  if (c.n_vocab < 259)
    throw cli::cli_error("--vocab", "must be >= 259 (3 special + 256 byte tokens), got " +
                                        std::to_string(c.n_vocab));
  c.tied_output = a.has("--tied");
  return shiftrope::tools::complete_shape(c);
}

int run(int argc, char** argv) {
  const cli::args a(argc, argv,
                    {{"--shape", true},
                     {"--n-embd", true},
                     {"--n-layers", true},
                     {"--n-heads", true},
                     {"--n-kv-heads", true},
                     {"--n-ff", true},
                     {"--vocab", true},
                     {"--ctx", true},
                     {"--weights", true},
                     {"--arch", true},
                     {"--tied", false},
                     {"--seed", true},
                     {"--name", true},
                     {"-o", true}});
  shiftrope::tools::random_model_params p;
  p.config = shape_from_flags(a);
  const std::string weights = a.value("--weights").value_or("f32");
  try {
    p.scheme = shiftrope::tools::parse_weight_scheme(weights);
  } catch (const shiftrope::error& e) {
    throw cli::cli_error("--weights", e.what());
  }
  p.seed = a.get_int<std::uint64_t>("--seed", 0, UINT64_MAX, 1);
  p.name = a.value("--name").value_or(a.value("--shape").value_or("random"));
  if (p.name.empty()) throw cli::cli_error("--name", "must not be empty");
  const std::string out = a.required("-o");
  if (out.empty()) throw cli::cli_error("-o", "must not be empty");

  {
    const auto slots = shiftrope::tools::model_tensor_slots(p.config);
    const auto types = shiftrope::tools::random_model_types(p);
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const auto& s = slots[i];
      if (s.dims.size() != 2) continue;
      const shiftrope::ggml_type want =
          shiftrope::tools::wanted_type(*p.scheme, s.name, p.config.n_layers, p.config.tied_output);
      if (want != types[i])
        std::fprintf(stderr,
                     "shiftrope-make-model: %s %s (row length %llu is not a multiple of %u, "
                     "the block of %s)\n",
                     s.name.c_str(),
                     (types[i] == shiftrope::ggml_type::f32
                          ? std::string("stays f32")
                          : "stored as " + shiftrope::ggml_type_name(types[i]))
                         .c_str(),
                     static_cast<unsigned long long>(s.dims[0]),
                     shiftrope::ggml_type_info(want).block_size,
                     shiftrope::ggml_type_name(want).c_str());
    }
  }
  const std::uint64_t total = shiftrope::tools::random_model_data_bytes(p);
  // Progress for files that take more than a moment (> 64 MB): the line
  // and then every 10%.
  const bool report = total > (std::uint64_t{64} << 20);
  if (report)
    std::fprintf(stderr, "shiftrope-make-model: writing %s (%.1f MB of %s weights)\n", out.c_str(),
                 static_cast<double>(total) * 1e-6, p.scheme->name.c_str());
  int last_tenth = 0;
  shiftrope::tools::write_file_atomically(out, [&](const std::string& tmp) {
    shiftrope::tools::write_random_model(tmp, p, [&](std::uint64_t done, std::uint64_t all) {
      const int tenth = static_cast<int>(10 * done / all);
      if (report && tenth > last_tenth) {
        last_tenth = tenth;
        std::fprintf(stderr, "shiftrope-make-model: %d%% (%.0f of %.0f MB)\n", 10 * tenth,
                     static_cast<double>(done) * 1e-6, static_cast<double>(all) * 1e-6);
      }
    });
  });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::wants_help(argc, argv)) {
    std::fputs(help_text, stdout);
    return 0;
  }
  return cli::run("shiftrope-make-model", [&] { return run(argc, argv); });
}
