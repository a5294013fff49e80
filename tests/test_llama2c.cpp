// Tests of llama2c.hpp: synthetic checkpoints written here from the format
// description (each array filled with values that encode its index, so a
// view pointing at the wrong place shows), the real stories260K.bin read
// plainly with stdio, tok512.bin against the GGUF copy of the same
// vocabulary, and malformed files.
#include <doctest/doctest.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <shiftrope/gguf.hpp>
#include <shiftrope/llama2c.hpp>
#include <string>
#include <vector>

#include "shared_data.hpp"

using namespace shiftrope;

namespace {

const std::string shared_dir = SHIFTROPE_SHARED_DIR;

std::vector<std::uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put_i32(std::vector<std::uint8_t>& b, std::int32_t v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  b.insert(b.end(), p, p + 4);
}
void put_f32(std::vector<std::uint8_t>& b, float v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  b.insert(b.end(), p, p + 4);
}

/// Value of element i of array k in a synthetic checkpoint: exact in float.
float tag(int k, std::size_t i) {
  return static_cast<float>(k * 65536 + static_cast<int>(i % 65536));
}

struct header {
  int dim = 8, hidden_dim = 12, n_layers = 2, n_heads = 4, n_kv_heads = 2, vocab_size = 10,
      seq_len = 6;
};

/// Element counts in file order: 11 weight arrays, 2 RoPE tables, classifier.
std::vector<std::size_t> counts(const header& h, bool with_classifier) {
  const std::size_t D = h.dim, H = h.hidden_dim, L = h.n_layers, V = std::abs(h.vocab_size);
  const std::size_t hs = D / h.n_heads, K = hs * h.n_kv_heads;
  std::vector<std::size_t> n = {
      V * D,     L * D,     L * D * D, L * K * D, L * K * D,          L * D * D,         L * D,
      L * H * D, L * D * H, L * H * D, D,         h.seq_len * hs / 2, h.seq_len * hs / 2};
  if (with_classifier) n.push_back(V * D);
  return n;
}

/// A checkpoint: header, then array k filled with tag(k, i).
std::vector<std::uint8_t> checkpoint(const header& h) {
  std::vector<std::uint8_t> b;
  for (int v : {h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len})
    put_i32(b, v);
  const std::vector<std::size_t> n = counts(h, h.vocab_size < 0);
  for (std::size_t k = 0; k < n.size(); ++k)
    for (std::size_t i = 0; i < n[k]; ++i) put_f32(b, tag(static_cast<int>(k), i));
  return b;
}

void check_array(const llama2c_array& a, int k, std::vector<std::size_t> shape) {
  CAPTURE(k);
  REQUIRE(a.rank == static_cast<int>(shape.size()));
  std::size_t n = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    CHECK(a.shape[i] == shape[i]);
    n *= shape[i];
  }
  REQUIRE(a.n_elements() == n);
  bool all = true;
  for (std::size_t i = 0; i < n; ++i) all = all && a.data[i] == tag(k, i);
  CHECK(all);
}

std::string error_of(const std::vector<std::uint8_t>& bytes) {
  try {
    llama2c_checkpoint::from_bytes(bytes, "bad.bin");
  } catch (const shiftrope::error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string vocab_error_of(const std::vector<std::uint8_t>& bytes, int vocab_size) {
  try {
    parse_llama2c_vocab(bytes.data(), bytes.size(), "tok.bin", vocab_size);
  } catch (const shiftrope::error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("llama2c: synthetic checkpoint, every view and shape") {
  for (const bool shared : {true, false}) {
    CAPTURE(shared);
    header h;
    if (!shared) h.vocab_size = -h.vocab_size;
    const llama2c_checkpoint ck = llama2c_checkpoint::from_bytes(checkpoint(h), "synthetic.bin");
    const llama2c_config& c = ck.config();
    CHECK((c.dim == 8 && c.hidden_dim == 12 && c.n_layers == 2 && c.n_heads == 4));
    CHECK((c.n_kv_heads == 2 && c.vocab_size == 10 && c.seq_len == 6));
    CHECK(c.shared_classifier == shared);
    CHECK(c.head_size() == 2);
    CHECK(c.kv_dim() == 4);
    CHECK(ck.name() == "synthetic.bin");
    check_array(ck.token_embedding(), 0, {10, 8});
    check_array(ck.rms_att(), 1, {2, 8});
    check_array(ck.wq(), 2, {2, 8, 8});
    check_array(ck.wk(), 3, {2, 4, 8});
    check_array(ck.wv(), 4, {2, 4, 8});
    check_array(ck.wo(), 5, {2, 8, 8});
    check_array(ck.rms_ffn(), 6, {2, 8});
    check_array(ck.w1(), 7, {2, 12, 8});
    check_array(ck.w2(), 8, {2, 8, 12});
    check_array(ck.w3(), 9, {2, 12, 8});
    check_array(ck.rms_final(), 10, {8});
    // Arrays 11 and 12 are the skipped RoPE tables; the classifier is 13 or the embedding.
    check_array(ck.classifier(), shared ? 0 : 13, {10, 8});
    if (shared) CHECK(ck.classifier().data == ck.token_embedding().data);
    // layer(l) is the l-th slice of a per-layer array.
    CHECK(ck.w2().layer(1) == ck.w2().data + 8 * 12);
    CHECK(ck.rms_att().layer(1)[0] == tag(1, 8));
  }
}

TEST_CASE("llama2c: stories260K.bin against a plain read") {
  const std::string path = shared_dir + "/models/stories260K.bin";
  if (!shared_data::have({path})) return;
  const llama2c_checkpoint ck = llama2c_checkpoint::open(path);
  const llama2c_config& c = ck.config();
  // The README's configuration.
  CHECK(c.dim == 64);
  CHECK(c.hidden_dim == 172);
  CHECK(c.n_layers == 5);
  CHECK(c.n_heads == 8);
  CHECK(c.n_kv_heads == 4);
  CHECK(c.vocab_size == 512);
  CHECK(c.seq_len == 512);
  CHECK(c.shared_classifier);
  CHECK(c.head_size() == 8);
  const std::vector<std::uint8_t> raw = read_all(path);
  header h{64, 172, 5, 8, 4, 512, 512};
  const std::vector<std::size_t> n = counts(h, false);
  const llama2c_array views[] = {
      ck.token_embedding(), ck.rms_att(), ck.wq(), ck.wk(), ck.wv(),       ck.wo(),
      ck.rms_ffn(),         ck.w1(),      ck.w2(), ck.w3(), ck.rms_final()};
  std::size_t at = 28;
  for (std::size_t k = 0; k < 11; ++k) {
    CAPTURE(k);
    REQUIRE(views[k].n_elements() == n[k]);
    REQUIRE(at + 4 * n[k] <= raw.size());
    CHECK(std::memcmp(views[k].data, raw.data() + at, 4 * n[k]) == 0);
    at += 4 * n[k];
  }
  CHECK(at + 4 * (n[11] + n[12]) == raw.size());
  CHECK(ck.classifier().data == ck.token_embedding().data);
}

TEST_CASE("llama2c: tok512.bin equals the vocabulary embedded in stories260K.gguf") {
  const std::string tok = shared_dir + "/models/tok512.bin";
  const std::string gguf = shared_dir + "/models/stories260K.gguf";
  if (!shared_data::have({tok, gguf})) return;
  const llama2c_vocab v = read_llama2c_vocab(tok, 512);
  REQUIRE(v.pieces.size() == 512);
  REQUIRE(v.scores.size() == 512);
  CHECK(v.max_token_length == 7);
  CHECK(v.pieces[0] == "<unk>");
  CHECK(v.pieces[1] == "\n<s>\n");  // llama2.c's export wraps BOS/EOS in newlines
  CHECK(v.pieces[2] == "\n</s>\n");
  CHECK(v.pieces[3] == "<0x00>");
  const gguf_file f = gguf_file::open(gguf);
  const std::vector<std::string_view> tokens = f.get_string_array("tokenizer.ggml.tokens");
  const std::vector<float> scores = f.get_float_array("tokenizer.ggml.scores");
  REQUIRE(tokens.size() == 512);
  int same_piece = 0, same_score = 0;
  for (std::size_t i = 3; i < 512; ++i) {
    // GGUF keeps SentencePiece's U+2581 for spaces; llama2.c's export turns it into ' '.
    std::string g(tokens[i]);
    for (std::size_t p; (p = g.find("\xe2\x96\x81")) != std::string::npos;) g.replace(p, 3, " ");
    same_piece += g == v.pieces[i];
  }
  for (std::size_t i = 0; i < 512; ++i) same_score += scores[i] == v.scores[i];
  CHECK(same_piece == 509);
  CHECK(same_score == 512);
}

TEST_CASE("llama2c hostile: header fields") {
  for (int field = 0; field < 7; ++field) {
    static const char* names[] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                  "n_kv_heads", "vocab_size", "seq_len"};
    for (const int bad : {0, -3}) {
      if (field == 5 && bad < 0) continue;  // negative vocab_size = separate classifier
      std::vector<std::uint8_t> b = checkpoint({});
      std::memcpy(b.data() + 4 * field, &bad, 4);
      const std::string m = error_of(b);
      CAPTURE(m);
      CHECK(contains(m, "'bad.bin'"));
      CHECK(contains(
          m, std::string(names[field]) + " = " + std::to_string(bad) + " must be positive"));
    }
  }
  header h;
  h.n_kv_heads = 3;
  CHECK(contains(error_of(checkpoint(h)), "n_heads = 4 is not a multiple of n_kv_heads = 3"));
  h = {};
  h.n_kv_heads = 8;
  CHECK(contains(error_of(checkpoint(h)), "n_heads = 4 is not a multiple of n_kv_heads = 8"));
  h = {};
  h.dim = 10;
  CHECK(contains(error_of(checkpoint(h)), "dim = 10 is not a multiple of n_heads = 4"));
  h = {};
  h.dim = 12;  // head size 3
  CHECK(contains(error_of(checkpoint(h)), "head size dim / n_heads = 3 is odd"));
  h = {};
  h.vocab_size = INT_MIN;
  std::vector<std::uint8_t> b = checkpoint({});
  std::memcpy(b.data() + 20, &h.vocab_size, 4);
  CHECK(contains(error_of(b), "vocab_size = -2147483648 is out of range"));
  // Huge sizes: products overflow 64 bits, or the file is far too small.
  const std::int32_t big[7] = {1 << 30, 1 << 30, 1 << 30, 2, 2, 1 << 30, 1 << 30};
  b.assign(reinterpret_cast<const std::uint8_t*>(big),
           reinterpret_cast<const std::uint8_t*>(big) + 28);
  CHECK(contains(error_of(b), "overflow"));
  const std::int32_t large[7] = {4096, 11008, 32, 32, 32, 32000, 4096};
  b.assign(reinterpret_cast<const std::uint8_t*>(large),
           reinterpret_cast<const std::uint8_t*>(large) + 28);
  CHECK(contains(error_of(b), "file size 28 differs from the"));
  b = checkpoint({});
  std::memcpy(b.data(), "ak42", 4);
  CHECK(contains(error_of(b), "versions 1 and 2 are not supported"));
}

TEST_CASE("llama2c hostile: file size must match exactly") {
  const std::vector<std::uint8_t> full = checkpoint({});
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    const std::string m =
        error_of(std::vector<std::uint8_t>(full.begin(), full.begin() + static_cast<long>(n)));
    CHECK((n < 28 ? contains(m, "truncated while reading the 28-byte header")
                  : contains(m, "file size " + std::to_string(n) + " differs")));
  }
  std::vector<std::uint8_t> longer = full;
  longer.push_back(0);
  CHECK(contains(error_of(longer), "differs"));
  // A classifier appended to a shared-classifier file is named as the likely cause.
  header h;
  longer = full;
  longer.resize(full.size() + 4 * h.vocab_size * h.dim);
  CHECK(contains(error_of(longer), "would fit a separate classifier"));
  CHECK_THROWS_WITH_AS(llama2c_checkpoint::open("/nonexistent/model.bin"),
                       doctest::Contains("'/nonexistent/model.bin'"), shiftrope::error);
}

namespace {

/// tokenizer.bin bytes: max_token_length, then (score, length, bytes) per piece.
std::vector<std::uint8_t> tokenizer(const std::vector<std::string>& pieces, int max_len) {
  std::vector<std::uint8_t> b;
  put_i32(b, max_len);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    put_f32(b, -static_cast<float>(i));
    put_i32(b, static_cast<std::int32_t>(pieces[i].size()));
    b.insert(b.end(), pieces[i].begin(), pieces[i].end());
  }
  return b;
}

}  // namespace

TEST_CASE("llama2c vocab: synthetic file and malformed variants") {
  const std::vector<std::string> pieces = {"<unk>", "", "a", std::string("\0b", 2), " the"};
  const std::vector<std::uint8_t> good = tokenizer(pieces, 5);
  const llama2c_vocab v = parse_llama2c_vocab(good.data(), good.size(), "tok.bin", 5);
  CHECK(v.pieces == pieces);
  CHECK(v.scores == std::vector<float>{0.0f, -1.0f, -2.0f, -3.0f, -4.0f});
  CHECK(v.max_token_length == 5);

  for (std::size_t n = 0; n < good.size(); ++n) {
    CAPTURE(n);
    const std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<long>(n));
    const std::string m = vocab_error_of(cut, 5);
    CHECK(contains(m, "'tok.bin'"));
    CHECK((contains(m, "truncated while reading") || contains(m, "needs at least")));
  }
  CHECK(contains(vocab_error_of(good, 4), "trailing bytes after 4 tokens"));
  CHECK(contains(vocab_error_of(good, 6), "truncated while reading score"));
  CHECK(contains(vocab_error_of(good, 0), "vocab_size 0 is out of range"));
  CHECK(contains(vocab_error_of(good, -1), "vocab_size -1 is out of range"));
  CHECK(contains(vocab_error_of(good, 1 << 23), "vocab_size 8388608 is out of range"));
  CHECK(contains(vocab_error_of(good, 1 << 20), "vocab_size 1048576 needs at least"));
  CHECK(contains(vocab_error_of(tokenizer(pieces, 0), 5), "max_token_length 0 is out of range"));
  CHECK(contains(vocab_error_of(tokenizer(pieces, -7), 5), "max_token_length -7"));
  CHECK(contains(vocab_error_of(tokenizer(pieces, 1 << 20), 5), "max_token_length 1048576"));
  CHECK(contains(vocab_error_of(tokenizer(pieces, 4), 5), "token 0: length 5 is out of range"));
  std::vector<std::uint8_t> negative = good;
  const std::int32_t minus_one = -1;
  std::memcpy(negative.data() + 4 + 4, &minus_one, 4);  // token 0's length
  CHECK(contains(vocab_error_of(negative, 5), "token 0: length -1 is out of range"));
  CHECK_THROWS_WITH_AS(read_llama2c_vocab("/nonexistent/tok.bin", 5),
                       doctest::Contains("'/nonexistent/tok.bin'"), shiftrope::error);
}
