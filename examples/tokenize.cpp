// examples/tokenize.cpp - shiftrope-tokenize: the token ids of standard
// input for a GGUF vocabulary or a llama2.c tokenizer.bin. Run with --help.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <shiftrope/detail/text/utf8.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <vector>

#include "cli.hpp"

namespace {

constexpr const char* kProgram = "shiftrope-tokenize";

constexpr const char* kHelp =
    R"HELP(usage: shiftrope-tokenize -m FILE [--vocab-size N] [--ids] [--bos] [--special]

Reads all of standard input as text and prints its token ids.

  -m FILE          a GGUF file with a tokenizer (tokenizer.ggml.*: "llama"
                   SentencePiece or "gpt2" byte-level BPE), or a llama2.c
                   tokenizer.bin (then --vocab-size is required).
  --vocab-size N   number of tokens in a llama2.c tokenizer.bin (512 for
                   tok512.bin, 32000 for Llama 2's), 1 <= N <= 4194304.
  --ids            print the ids on one line, separated by spaces.
                   Default: one line per token, "id<TAB>piece", the piece
                   in double quotes with \\, \", \n, \r, \t and \xNN
                   (other control bytes, bytes that are not UTF-8) escaped.
  --bos            put the beginning-of-sequence token first.
  --special        turn texts of control/user-defined tokens (e.g. <s>,
                   <|endoftext|>) into their ids; otherwise all is text.
  --help, -h       this text.

Errors (bad flags, unreadable or malformed files) print one line on
standard error and exit with status 2.

Example:
  echo -n "Once upon a time" | shiftrope-tokenize -m tok512.bin --vocab-size 512 --bos
)HELP";

/// The piece made visible: quoted, with escapes for what a terminal would
/// hide or garble. Well-formed UTF-8 characters are printed as they are.
std::string visible(const std::string& piece) {
  std::string out = "\"";
  for (std::size_t pos = 0; pos < piece.size();) {
    const shiftrope::detail::utf8_char c = shiftrope::detail::decode_utf8(piece, pos);
    const auto byte = static_cast<unsigned char>(piece[pos]);
    if (!c.valid || byte < 0x20 || byte == 0x7F) {
      const char* named = byte == '\n'   ? "\\n"
                          : byte == '\r' ? "\\r"
                          : byte == '\t' ? "\\t"
                                         : nullptr;
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", byte);
      out += c.valid && named ? named : buf;
      pos += 1;
      continue;
    }
    if (byte == '\\' || byte == '"') out += '\\';
    out.append(piece, pos, c.length);
    pos += c.length;
  }
  return out + "\"";
}

bool is_gguf(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw shiftrope::error("-m: cannot open '" + path + "': " + std::strerror(errno));
  char magic[4] = {};
  const std::size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  return n == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

shiftrope::tokenizer load(const cli::args& a) {
  const std::string path = a.required("-m");
  if (is_gguf(path)) {
    if (a.has("--vocab-size"))
      throw cli::cli_error("--vocab-size", "only for a llama2.c tokenizer.bin, not a GGUF file");
    return shiftrope::tokenizer::from_gguf(shiftrope::gguf_file::open(path));
  }
  if (!a.has("--vocab-size"))
    throw cli::cli_error(
        "--vocab-size",
        "required: '" + path + "' is not GGUF, so it is read as llama2.c tokenizer.bin");
  const int n = a.get_int<int>("--vocab-size", 1, 1 << 22);
  return shiftrope::tokenizer::from_llama2c(shiftrope::read_llama2c_vocab(path, n));
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::wants_help(argc, argv)) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  return cli::run(kProgram, [&] {
    const cli::args a(argc, argv,
                      {{"-m", true},
                       {"--vocab-size", true},
                       {"--ids", false},
                       {"--bos", false},
                       {"--special", false}});
    const shiftrope::tokenizer tok = load(a);
    std::ios::sync_with_stdio(false);
    const std::string text((std::istreambuf_iterator<char>(std::cin)),
                           std::istreambuf_iterator<char>());
    if (std::cin.bad()) throw shiftrope::error("standard input: read error");
    const std::vector<int> ids = tok.encode(text, a.has("--bos"), a.has("--special"));
    std::string out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (a.has("--ids")) {
        out += (i ? " " : "") + std::to_string(ids[i]);
      } else {
        out += std::to_string(ids[i]) + "\t" + visible(tok.piece(ids[i])) + "\n";
      }
    }
    if (a.has("--ids")) out += "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  });
}
