// shiftrope-convert: a llama2.c checkpoint to a GGUF file (architecture
// llama, interleaved RoPE pairs as llama2.c uses: no Q/K permutation), with
// the llama2.c tokenizer.bin or the byte vocabulary of the project's own
// model; or a GGUF file to a GGUF file with every tensor decoded to F32 or
// F16 (to inspect quantized files and check round trips). See --help.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <shiftrope/gguf.hpp>
#include <string>
#include <vector>

#include "../examples/cli.hpp"
#include "file_output.hpp"
#include "gguf_model.hpp"
#include "gguf_vocab.hpp"

namespace {

constexpr const char* help_text =
    R"(usage: shiftrope-convert CHECKPOINT (-z TOKENIZER | --byte-vocab) [options] -o FILE
       shiftrope-convert IN.gguf [--weights f32|f16] -o FILE

Converts a llama2.c checkpoint (version 0, float32) to GGUF: architecture
llama, the checkpoint's hyper-parameters (RMSNorm eps 1e-5, RoPE base 10000),
tensors under llama.cpp's names, no Q/K permutation (llama2.c and GGUF's
llama pair RoPE dimensions as (x[2i], x[2i+1]) alike). A shared classifier
stays shared (no output.weight).

Vocabulary (one of):
  -z FILE            llama2.c tokenizer.bin: pieces with '▁' for spaces,
                     <unk>/<s>/</s> at 0/1/2, byte tokens <0xNN> (as llama.cpp's
                     llama2.c converter writes them)
  --byte-vocab       256 byte tokens (id = byte value), BOS 256, EOS 257, no
                     space prefix (the checkpoint's vocab_size must be 258)

Options:
  --weights TYPE     storage of 2-D matrices, as shiftrope-make-model --weights:
                     f32 (default), f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1,
                     q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs or q4_k_m
                     (a matrix whose row length is not a whole number of the
                     type's blocks takes llama.cpp's fallback type, as
                     shiftrope-make-model says, or stays f32; said on
                     stderr); norms stay f32
  --context-length L training length recorded as llama.context_length
                     (default: the checkpoint's seq_len)
  --name NAME        general.name (default: the checkpoint's file name)
  -o FILE            output path (written to FILE.partial, then renamed)
  -h, --help         this text

A GGUF input (recognized by its magic) is decoded instead: every tensor is
dequantized and written as F32 (--weights f32, the default) or, for 2-D
tensors, F16 (--weights f16; 1-D tensors stay F32). Names, dims, tensor
order, the alignment and every metadata entry are copied unchanged, except
general.file_type, which is set to 0 (F32) or 1 (F16) to match.

Exit status 2 for a bad flag or input, with one line naming it.
)";

/// True when the file at `path` starts with the GGUF magic (false when it
/// cannot be read: the llama2.c reader then names the problem).
bool is_gguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

/// IN.gguf -> OUT.gguf with every tensor decoded (see --help).
int convert_gguf(const std::string& in, const cli::args& a) {
  namespace tools = shiftrope::tools;
  for (const char* flag : {"-z", "--byte-vocab", "--context-length", "--name"})
    if (a.has(flag))
      throw cli::cli_error(flag,
                           "applies to a llama2.c checkpoint, not to the GGUF input '" + in + "'");
  const std::string weights = a.get_choice("--weights", {"f32", "f16"}, "f32");
  const std::string out = a.required("-o");
  if (out.empty()) throw cli::cli_error("-o", "must not be empty");
  const shiftrope::ggml_type matrices =
      weights == "f16" ? shiftrope::ggml_type::f16 : shiftrope::ggml_type::f32;

  const shiftrope::gguf_file f = shiftrope::gguf_file::open(in);
  shiftrope::gguf_writer w;
  for (const shiftrope::gguf_kv& kv : f.metadata()) {
    if (kv.key == "general.alignment") {
      w.set_alignment(f.alignment());
    } else if (kv.key == "general.file_type") {
      w.add_uint32(kv.key, weights == "f16" ? 1 : 0);
    } else {
      w.add_value(kv.key, kv.value);
    }
  }
  const std::vector<shiftrope::gguf_tensor>& tensors = f.tensors();
  const auto out_type = [&](const shiftrope::gguf_tensor& t) {
    return t.dims.size() >= 2 ? matrices : shiftrope::ggml_type::f32;
  };
  for (const shiftrope::gguf_tensor& t : tensors)
    w.add_tensor_deferred(t.name, out_type(t), t.dims);
  tools::write_file_atomically(out, [&](const std::string& tmp) {
    w.write_streamed(
        tmp, [&](std::size_t i, const std::string&, shiftrope::gguf_tensor_sink& sink) {
          const shiftrope::gguf_tensor& t = tensors[i];
          const std::size_t n_in = t.dims.empty() ? 0 : static_cast<std::size_t>(t.dims[0]);
          if (n_in == 0) return;
          const std::size_t in_bytes =
              static_cast<std::size_t>(shiftrope::ggml_row_bytes(t.type, n_in));
          const shiftrope::ggml_type type = out_type(t);
          std::vector<float> row(n_in);
          std::vector<std::uint8_t> bytes(
              static_cast<std::size_t>(shiftrope::ggml_row_bytes(type, n_in)));
          // Each input row is copied to an aligned buffer first: a file with
          // general.alignment 1 may place a tensor at any byte.
          std::vector<std::uint64_t> staged((in_bytes + 7) / 8);
          for (std::uint64_t r = 0; r < t.n_rows(); ++r) {  // row by row: the input stays mapped
            try {
              std::memcpy(staged.data(), t.data + r * in_bytes, in_bytes);
              tools::decode_floats(t.type, reinterpret_cast<const std::uint8_t*>(staged.data()),
                                   n_in, row.data());
              tools::encode_floats(type, row.data(), n_in, bytes.data());
            } catch (const shiftrope::error& e) {
              shiftrope::fail(in, ": tensor '", t.name, "' (", shiftrope::ggml_type_name(t.type),
                              ") row ", r, ": ", e.what());
            }
            sink.put(bytes.data(), bytes.size());
          }
        });
  });
  std::fprintf(stderr, "shiftrope-convert: wrote %s (%s, %zu tensors, %zu metadata entries)\n",
               out.c_str(), weights.c_str(), tensors.size(), f.metadata().size());
  return 0;
}

/// The command line without the checkpoint (the first argument when it is
/// not a flag), which cli::args does not take.
struct split_args {
  std::string checkpoint;
  std::vector<const char*> rest;
};

split_args split_checkpoint(int argc, char** argv) {
  split_args s;
  s.rest.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i == 1 && !a.empty() && a[0] != '-') {
      s.checkpoint = a;
    } else {
      s.rest.push_back(argv[i]);
    }
  }
  return s;
}

std::string file_stem(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.find_last_of('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return name.empty() ? "llama2c" : name;
}

int run(int argc, char** argv) {
  namespace tools = shiftrope::tools;
  const split_args split = split_checkpoint(argc, argv);
  const cli::args a(static_cast<int>(split.rest.size()), split.rest.data(),
                    {{"-z", true},
                     {"--byte-vocab", false},
                     {"--weights", true},
                     {"--context-length", true},
                     {"--name", true},
                     {"-o", true}});
  if (split.checkpoint.empty())
    throw cli::cli_error("CHECKPOINT", "missing: the first argument is the llama2.c checkpoint");
  if (is_gguf(split.checkpoint)) return convert_gguf(split.checkpoint, a);
  a.exclusive("-z", "--byte-vocab");
  if (!a.has("-z") && !a.has("--byte-vocab"))
    throw cli::cli_error("-z", "a vocabulary is required: -z TOKENIZER or --byte-vocab");
  tools::weight_scheme weights;
  try {
    weights = tools::parse_weight_scheme(a.value("--weights").value_or("f32"));
  } catch (const shiftrope::error& e) {
    throw cli::cli_error("--weights", e.what());
  }
  const std::string out = a.required("-o");
  if (out.empty()) throw cli::cli_error("-o", "must not be empty");

  const auto ck = shiftrope::llama2c_checkpoint::open(split.checkpoint);
  shiftrope::model_config c = shiftrope::model_config_from_llama2c(ck.config(), ck.name());
  c.train_len = a.get_int<std::int64_t>("--context-length", 1, 0xFFFFFFFFll, c.train_len);
  const std::string name = a.value("--name").value_or(file_stem(split.checkpoint));
  if (name.empty()) throw cli::cli_error("--name", "must not be empty");

  shiftrope::vocab_data vocab;
  if (a.has("--byte-vocab")) {
    if (c.n_vocab != 258)
      throw cli::cli_error("--byte-vocab", "the checkpoint '" + split.checkpoint +
                                               "' has vocab_size " + std::to_string(c.n_vocab) +
                                               ", not 258");
    vocab = tools::byte_vocab();
  } else {
    vocab = tools::vocab_from_llama2c(shiftrope::read_llama2c_vocab(a.required("-z"), c.n_vocab));
  }

  shiftrope::gguf_writer w;
  tools::add_model_metadata(w, c, name);
  tools::add_vocab_metadata(w, vocab);
  const std::vector<tools::llama2c_tensor> tensors = tools::llama2c_tensors(ck);
  std::vector<shiftrope::ggml_type> types;
  for (const tools::llama2c_tensor& t : tensors) {
    const shiftrope::ggml_type type =
        tools::storage_type(weights, t.slot.name, t.slot.dims, c.n_layers, c.tied_output);
    const shiftrope::ggml_type want =
        tools::wanted_type(weights, t.slot.name, c.n_layers, c.tied_output);
    if (t.slot.dims.size() == 2 && type != want)
      std::fprintf(
          stderr,
          "shiftrope-convert: %s %s (row length %llu is not a multiple of %u, the "
          "block of %s)\n",
          t.slot.name.c_str(),
          (type == shiftrope::ggml_type::f32 ? std::string("stays f32")
                                             : "stored as " + shiftrope::ggml_type_name(type))
              .c_str(),
          static_cast<unsigned long long>(t.slot.dims[0]),
          shiftrope::ggml_type_info(want).block_size, shiftrope::ggml_type_name(want).c_str());
    types.push_back(type);
    w.add_tensor_deferred(t.slot.name, type, t.slot.dims);
  }
  tools::write_file_atomically(out, [&](const std::string& tmp) {
    w.write_streamed(tmp, [&](std::size_t i, const std::string&,
                              shiftrope::gguf_tensor_sink& sink) {
      const tools::llama2c_tensor& t = tensors[i];
      const shiftrope::ggml_type type = types[i];
      const std::size_t n_in = static_cast<std::size_t>(t.slot.dims[0]);
      const std::size_t rows = static_cast<std::size_t>(tools::element_count(t.slot.dims) / n_in);
      std::vector<std::uint8_t> bytes(
          static_cast<std::size_t>(shiftrope::ggml_row_bytes(type, n_in)));
      for (std::size_t r = 0; r < rows; ++r) {  // row by row: the checkpoint stays mapped
        try {
          tools::encode_floats(type, t.data + r * n_in, n_in, bytes.data());
        } catch (const shiftrope::error& e) {  // a non-finite weight (quantized types)
          shiftrope::fail(split.checkpoint, ": tensor '", t.slot.name, "' row ", r, ": ", e.what());
        }
        sink.put(bytes.data(), bytes.size());
      }
    });
  });
  std::fprintf(stderr, "shiftrope-convert: wrote %s (%s, %zu tensors, %d tokens, context %lld)\n",
               out.c_str(), weights.name.c_str(), tensors.size(), c.n_vocab,
               static_cast<long long>(c.train_len));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::wants_help(argc, argv)) {
    std::fputs(help_text, stdout);
    return 0;
  }
  return cli::run("shiftrope-convert", [&] { return run(argc, argv); });
}
