// examples/eval/codec.hpp - text <-> token ids for the evaluation programs
// (shiftrope-passkey, shiftrope-perplexity): the model's tokenizer (GGUF or
// llama2.c tokenizer.bin), or the byte-level vocabulary of tools/train's
// passkey model (id = byte value, BOS = 256, EOS = 257), which has no
// tokenizer file.
//
// Prompts are assembled from segments tokenized one at a time: the first
// with BOS, every later one as a continuation that starts with a space
// (" The red fox walks to the old mill."). For byte-level and GPT-2-style
// vocabularies this equals tokenizing the joined text; for SentencePiece the
// split falls on a word boundary, where its pieces ("▁The") start anyway.
// Segment tokens then give exact token positions (where a needle's key
// sits) and exact lengths without tokenizing the whole prompt again.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <shiftrope/error.hpp>
#include <shiftrope/llama2c.hpp>
#include <shiftrope/model.hpp>
#include <shiftrope/tokenizer.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "../cli.hpp"

namespace eval {

class text_codec {
 public:
  /// The byte-level vocabulary of tools/train: 258 ids, id = byte value for
  /// 0..255, BOS = 256, EOS = 257.
  static text_codec bytes() {
    text_codec c;
    c.n_vocab_ = 258;
    c.bos_ = 256;
    c.eos_ = 257;
    return c;
  }

  /// The model's tokenizer; BOS first when the vocabulary has one and
  /// expects it (llama2.c tokenizers always do).
  static text_codec from(std::shared_ptr<const shiftrope::tokenizer> tok, bool add_bos) {
    text_codec c;
    c.n_vocab_ = tok->n_vocab();
    c.bos_ = tok->bos();
    c.eos_ = tok->eos();
    c.add_bos_ = add_bos && tok->bos() >= 0;
    c.tok_ = std::move(tok);
    return c;
  }

  [[nodiscard]] int n_vocab() const noexcept { return n_vocab_; }
  [[nodiscard]] int bos() const noexcept { return bos_; }
  [[nodiscard]] bool byte_level() const noexcept { return tok_ == nullptr; }

  /// The first segment of a text: BOS (when the model expects it) + text.
  [[nodiscard]] std::vector<int> encode_first(std::string_view text) const {
    if (!tok_) {
      std::vector<int> ids{bos_};
      for (const char ch : text) ids.push_back(static_cast<unsigned char>(ch));
      return ids;
    }
    return tok_->encode(text, add_bos_);
  }

  /// A later segment, which starts with a space (see the top of the file).
  /// SentencePiece's dummy prefix already writes that space: it is dropped
  /// from the text first, so the segment encodes as it would mid-text.
  [[nodiscard]] std::vector<int> encode_next(std::string_view text) const {
    if (!tok_) {
      std::vector<int> ids;
      ids.reserve(text.size());
      for (const char ch : text) ids.push_back(static_cast<unsigned char>(ch));
      return ids;
    }
    if (tok_->data().add_space_prefix && !text.empty() && text.front() == ' ')
      text.remove_prefix(1);
    return tok_->encode(text, false);
  }

  /// A whole text (the start of a sequence) without BOS.
  [[nodiscard]] std::vector<int> encode_text(std::string_view text) const {
    if (tok_) return tok_->encode(text, false);
    std::vector<int> ids = encode_first(text);
    ids.erase(ids.begin());
    return ids;
  }

  /// Text of generated ids (bytes: ids below 256 as bytes, others dropped).
  [[nodiscard]] std::string decode(const std::vector<int>& ids) const {
    if (tok_) return tok_->decode(ids);
    std::string s;
    for (const int id : ids)
      if (id >= 0 && id < 256) s += static_cast<char>(id);
    return s;
  }

  /// Ends generation: EOS, BOS, or a tokenizer's end-of-generation tokens.
  [[nodiscard]] bool is_end(int id) const noexcept {
    if (id == eos_ || id == bos_) return true;
    return tok_ && tok_->is_eog(id);
  }

 private:
  std::shared_ptr<const shiftrope::tokenizer> tok_;
  int n_vocab_ = 0;
  int bos_ = -1;
  int eos_ = -1;
  bool add_bos_ = true;
};

/// The codec the flags ask for: --bytes (tools/train's byte-level model),
/// -z FILE (a llama2.c tokenizer.bin), or the GGUF file's own tokenizer.
/// Throws cli::cli_error naming the flag when none applies or sizes clash.
inline text_codec load_codec(const shiftrope::model& m, const std::optional<std::string>& tok_path,
                             bool byte_level) {
  const int n_vocab = m.config().n_vocab;
  if (byte_level) {
    if (tok_path) throw cli::cli_error("--bytes", "cannot be combined with -z");
    if (n_vocab != 258)
      throw cli::cli_error("--bytes", "the byte-level vocabulary has 258 tokens, the model " +
                                          std::to_string(n_vocab));
    return text_codec::bytes();
  }
  std::shared_ptr<const shiftrope::tokenizer> tok;
  if (tok_path)
    tok = std::make_shared<const shiftrope::tokenizer>(
        shiftrope::tokenizer::from_llama2c(shiftrope::read_llama2c_vocab(*tok_path, n_vocab)));
  else if (m.gguf() != nullptr && m.gguf()->has("tokenizer.ggml.tokens"))
    tok = std::make_shared<const shiftrope::tokenizer>(shiftrope::tokenizer::from_gguf(*m.gguf()));
  else
    throw cli::cli_error("-z",
                         "the model file has no tokenizer: give -z FILE (llama2.c "
                         "tokenizer.bin) or --bytes (byte-level model)");
  if (tok->n_vocab() > n_vocab)
    shiftrope::fail(tok_path.value_or(m.name()), ": the tokenizer has ", tok->n_vocab(),
                    " tokens, the model only ", n_vocab);
  const bool bos = tok_path.has_value() || tok->add_bos_default();
  return text_codec::from(std::move(tok), bos);
}

}  // namespace eval
