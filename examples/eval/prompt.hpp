// examples/eval/prompt.hpp - passkey and multi-needle prompts: templates,
// seeded filler, keys, and fitting a prompt to a length in tokens.
//
// A prompt is BOS + instruction, filler sentences with the needle(s) between
// two of them, and a question that ends right before the answer:
//
//   format paper (the STRING repository's and llama.cpp's passkey strings):
//     "There is an important info hidden inside a lot of irrelevant text. Find it and
//      memorize it. I will quiz you about the important information there." ...
//     " The pass key is 12345. Remember it. 12345 is the pass key." ...
//     " What is the pass key? The pass key is"
//   format train (tools/train/data.py, what the byte-level passkey model saw):
//     the same without "I will quiz you ..." and data.py's filler grammar
//     (a per-document cast, then "The {character} {verb} the {place}."),
//     drawn with splitmix64 exactly as data.py draws them.
//   task needles (the paper's NIAH, 4 keys): " One of the magic number is: K."
//     (the repository's wording) four times, question " What are the magic
//     numbers mentioned in the provided text? The numbers are" (its newlines
//     written as spaces so every segment is a plain continuation).
//
// Fitting (fit_mode::exact): the filler of a trial is one seeded stream of
// sentences; a prompt of T tokens takes its longest prefix that fits, then
// closes the remaining gap by dropping up to two of those sentences and
// adding one or two later ones, so the prompt has T tokens within
// max(1, T/100). Only segment token counts are added (codec.hpp): no prompt
// is tokenized twice. The needle goes to the sentence boundary whose filler
// offset is nearest depth × filler tokens, so all depths of a (trial, length)
// share the filler and the keys, and differ only where the needle sits.
// fit_mode::train rebuilds tools/train's make_document exactly instead.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <shiftrope/error.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "codec.hpp"
#include "filler.hpp"

namespace eval {

enum class task_kind { passkey, needles };
enum class prompt_style { paper, train };
enum class fit_mode { exact, train };

/// The strings of one format; "{key}" stands for a key.
struct prompt_templates {
  std::string instruction;  ///< first segment (after BOS)
  std::string needle;       ///< one needle, a continuation segment
  std::string question;     ///< last segment, ends right before the answer
  std::string answer;       ///< the expected continuation (sizes the generation)
};

inline prompt_templates templates_for(prompt_style style, task_kind task) {
  prompt_templates t;
  t.instruction =
      "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it.";
  if (task == task_kind::needles) {
    t.instruction =
        "There is an important info hidden inside a lot of irrelevant text. Find it and "
        "memorize them.";
    t.needle = " One of the magic number is: {key}.";
    t.question = " What are the magic numbers mentioned in the provided text? The numbers are";
    t.answer = " {key}, {key}, {key}, {key}.";
  } else {
    t.needle = " The pass key is {key}. Remember it. {key} is the pass key.";
    t.question = " What is the pass key? The pass key is";
    t.answer = " {key}.";
  }
  if (style == prompt_style::paper)
    t.instruction += " I will quiz you about the important information there.";
  return t;
}

/// Every "{key}" of text replaced by key.
inline std::string with_key(std::string_view text, std::string_view key) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 5, "{key}") == 0) {
      out += key;
      i += 5;
    } else {
      out += text[i++];
    }
  }
  return out;
}

/// One prompt of the sweep.
struct prompt {
  std::vector<int> tokens;            ///< BOS ... question
  std::vector<std::string> keys;      ///< 1 (passkey) or 4 (needles), in prompt order
  std::vector<std::int64_t> key_pos;  ///< token index of each key's first digit
  std::int64_t target = 0;            ///< the requested length (tokens, or doc_len for fit train)
  double depth = 0;                   ///< the requested depth in [0, 1]
  int trial = 0;
  int n_gen = 0;  ///< tokens to generate: the answer's and a margin
};

struct prompt_options {
  task_kind task = task_kind::passkey;
  prompt_style style = prompt_style::paper;
  filler_kind filler = filler_kind::story;
  fit_mode fit = fit_mode::exact;
  int key_digits = 5;       ///< keys in [10^(k-1), 10^k); format train: 5
  std::uint64_t seed = 42;  ///< everything derives from it (and the trial)
  int gen_tokens = 0;       ///< tokens generated per prompt; 0 = the answer's + gen_margin
  int gen_margin = 4;       ///< extra tokens after the answer's

  /// Throws shiftrope::error naming the field.
  void validate() const {
    if (key_digits < 1 || key_digits > 18)
      shiftrope::fail("prompt_options: key_digits must be in [1, 18], got ", key_digits);
    if (style == prompt_style::train && key_digits != 5)
      shiftrope::fail("prompt_options: key_digits must be 5 for format train, got ", key_digits);
    if (fit == fit_mode::train && (style != prompt_style::train || task != task_kind::passkey))
      shiftrope::fail("prompt_options: fit train needs format train and task passkey");
    if (gen_tokens < 0 || gen_tokens > 4096)
      shiftrope::fail("prompt_options: gen_tokens must be in [0, 4096], got ", gen_tokens);
    if (gen_margin < 0 || gen_margin > 4096)
      shiftrope::fail("prompt_options: gen_margin must be in [0, 4096], got ", gen_margin);
  }
};

/// The largest |length - target| fit_mode::exact aims for.
[[nodiscard]] inline std::int64_t length_tolerance(std::int64_t target) noexcept {
  return std::max<std::int64_t>(1, target / 100);
}

/// Index of the first token of ids whose text (decoded with the tokens
/// before it) holds a digit; ids.size() when none does.
inline std::size_t first_digit_token(const text_codec& codec, const std::vector<int>& ids) {
  for (std::size_t i = 1; i <= ids.size(); ++i) {
    const std::string text = codec.decode(std::vector<int>(ids.begin(), ids.begin() + i));
    if (text.find_first_of("0123456789") != std::string::npos) return i - 1;
  }
  return ids.size();
}

/// Builds the prompts of a sweep; caches every segment's tokens.
class prompt_builder {
 public:
  prompt_builder(const text_codec& codec, const prompt_options& o)
      : codec_(codec), opt_(o), tpl_(templates_for(o.style, o.task)) {
    opt_.validate();
    head_ = codec_.encode_first(tpl_.instruction);
    question_ = codec_.encode_next(tpl_.question);
  }

  [[nodiscard]] const prompt_options& options() const noexcept { return opt_; }
  [[nodiscard]] int needles_per_prompt() const noexcept {
    return opt_.task == task_kind::needles ? 4 : 1;
  }

  /// The keys of a trial: distinct within the trial and from every earlier
  /// trial's (so no two trials share a key).
  const std::vector<std::string>& keys(int trial) {
    while (static_cast<int>(keys_.size()) <= trial) {
      splitmix64 rng{derive_seed(opt_.seed, 1, keys_.size())};
      std::vector<std::string> k;
      while (static_cast<int>(k.size()) < needles_per_prompt()) {
        std::uint64_t lo = 1;
        for (int i = 1; i < opt_.key_digits; ++i) lo *= 10;
        const std::string key = std::to_string(lo + rng.below(9 * lo));
        if (used_keys_.insert(key).second) k.push_back(key);
      }
      keys_.push_back(std::move(k));
    }
    return keys_[static_cast<std::size_t>(trial)];
  }

  /// Tokens generated after each of a trial's prompts.
  int gen_tokens(int trial) { return gen_count(keys(trial)); }

  /// Tokens of a trial's prompt without filler (its shortest length).
  std::int64_t fixed_tokens(int trial) {
    std::int64_t n = static_cast<std::int64_t>(head_.size() + question_.size());
    for (const std::string& k : keys(trial)) n += static_cast<std::int64_t>(needle(k).ids.size());
    return n;
  }

  /// fit_mode::exact: the prompts of (trial, target) for each depth.
  /// Throws shiftrope::error when target is below fixed_tokens(trial).
  std::vector<prompt> build(int trial, std::int64_t target, const std::vector<double>& depths);

  /// fit_mode::train: tools/train's eval_documents(seed, doc_len, depths,
  /// trials) — one generator seeded seed + doc_len, depths outer, trials
  /// inner — as prompts (BOS ... "The pass key is"), in that order.
  std::vector<prompt> build_train_documents(std::int64_t doc_len, const std::vector<double>& depths,
                                            int trials);

  /// The training documents' fixed part (data.py's FIXED_LEN, in bytes).
  [[nodiscard]] std::int64_t train_fixed_len() const {
    return 1 +
           static_cast<std::int64_t>(tpl_.instruction.size() +
                                     with_key(tpl_.needle, "10000").size() + tpl_.question.size() +
                                     with_key(tpl_.answer, "10000").size()) +
           1;
  }

 private:
  struct needle_tokens {
    std::vector<int> ids;
    std::size_t key_offset = 0;  // first digit token of the key
  };
  struct stream {
    splitmix64 rng;
    filler_source source;                      // the trial's cast (grammar) drawn first
    std::vector<const std::vector<int>*> ids;  // sentence i's tokens (cached by text)
  };

  const needle_tokens& needle(const std::string& key) {
    auto it = needles_.find(key);
    if (it != needles_.end()) return it->second;
    needle_tokens n;
    n.ids = codec_.encode_next(with_key(tpl_.needle, key));
    n.key_offset = first_digit_token(codec_, n.ids);
    return needles_.emplace(key, std::move(n)).first->second;
  }
  const std::vector<int>& sentence_ids(const std::string& s) {
    auto it = sentences_.find(s);
    if (it == sentences_.end()) it = sentences_.emplace(s, codec_.encode_next(" " + s)).first;
    return it->second;
  }
  std::int64_t len(stream& st, std::size_t i) {
    while (st.ids.size() <= i) st.ids.push_back(&sentence_ids(st.source.next(st.rng)));
    return static_cast<std::int64_t>(st.ids[i]->size());
  }
  // The first `count` tokens of a sentence's (count < size: the cut last one).
  struct piece {
    const std::vector<int>* ids = nullptr;
    std::size_t count = 0;
  };
  std::vector<piece> pick_filler(stream& st, std::int64_t budget, std::int64_t tol);
  prompt assemble(const std::vector<piece>& filler, const std::vector<std::string>& keys,
                  const std::vector<std::size_t>& boundary);
  int gen_count(const std::vector<std::string>& keys) {
    if (opt_.gen_tokens > 0) return opt_.gen_tokens;
    std::string answer = tpl_.answer;
    for (const std::string& k : keys) answer.replace(answer.find("{key}"), 5, k);
    return static_cast<int>(codec_.encode_next(answer).size()) + opt_.gen_margin;
  }

  text_codec codec_;
  prompt_options opt_;
  prompt_templates tpl_;
  std::vector<int> head_, question_;
  std::vector<std::vector<std::string>> keys_;
  std::set<std::string> used_keys_;
  std::unordered_map<std::string, std::vector<int>> sentences_;
  std::map<std::string, needle_tokens> needles_;
  std::map<int, stream> streams_;
};

// The stream's sentences for a filler budget: the longest prefix that fits,
// then (when more than tol is missing) up to two of its last sentences
// swapped for one or two of the next kPool ones, the first combination
// within tol in a fixed order. When none is (a budget shorter than any
// sentence, a filler of few distinct sentences), the prefix is completed
// with the first tokens of the next sentence, cut to the exact length.
inline std::vector<prompt_builder::piece> prompt_builder::pick_filler(stream& st,
                                                                      std::int64_t budget,
                                                                      std::int64_t tol) {
  constexpr std::size_t kPool = 48;
  std::size_t k = 0;
  std::int64_t sum = 0;
  while (sum + len(st, k) <= budget) sum += len(st, k++);
  std::vector<piece> out;
  const auto whole = [&](std::size_t i) { out.push_back({st.ids[i], st.ids[i]->size()}); };
  for (std::size_t i = 0; i < k; ++i) whole(i);
  if (budget - sum <= tol) return out;
  for (std::size_t drop = 0; drop <= std::min<std::size_t>(2, k); ++drop) {
    std::int64_t gap = budget - sum;
    for (std::size_t i = k - drop; i < k; ++i) gap += len(st, i);
    const auto take = [&](std::size_t a, std::size_t b) {
      out.resize(k - drop);
      whole(a);
      if (b != a) whole(b);
      return out;
    };
    for (std::size_t a = k; a < k + kPool; ++a)
      if (std::llabs(gap - len(st, a)) <= tol) return take(a, a);
    for (std::size_t a = k; a < k + kPool; ++a)
      for (std::size_t b = a + 1; b < k + kPool; ++b)
        if (std::llabs(gap - len(st, a) - len(st, b)) <= tol) return take(a, b);
  }
  out.push_back({st.ids[k], static_cast<std::size_t>(budget - sum)});  // 0 < budget - sum < len(k)
  return out;
}

// BOS + instruction, filler sentences with needle i before sentence
// boundary[i], question; records where each key's first digit sits.
inline prompt prompt_builder::assemble(const std::vector<piece>& filler,
                                       const std::vector<std::string>& keys,
                                       const std::vector<std::size_t>& boundary) {
  prompt p;
  p.tokens = head_;
  std::size_t next_needle = 0;
  for (std::size_t b = 0; b <= filler.size(); ++b) {
    for (; next_needle < keys.size() && boundary[next_needle] == b; ++next_needle) {
      const needle_tokens& n = needle(keys[next_needle]);
      p.key_pos.push_back(static_cast<std::int64_t>(p.tokens.size() + n.key_offset));
      p.tokens.insert(p.tokens.end(), n.ids.begin(), n.ids.end());
    }
    if (b < filler.size())
      p.tokens.insert(p.tokens.end(), filler[b].ids->begin(),
                      filler[b].ids->begin() + static_cast<std::ptrdiff_t>(filler[b].count));
  }
  p.tokens.insert(p.tokens.end(), question_.begin(), question_.end());
  p.keys = keys;
  p.n_gen = gen_count(keys);
  return p;
}

inline std::vector<prompt> prompt_builder::build(int trial, std::int64_t target,
                                                 const std::vector<double>& depths) {
  const std::vector<std::string>& k = keys(trial);
  const std::int64_t fixed = fixed_tokens(trial);
  if (target < fixed)
    shiftrope::fail("length ", target, " is below the prompt's fixed part (", fixed,
                    " tokens: instruction, needle", k.size() > 1 ? "s" : "", ", question)");
  auto it = streams_.find(trial);
  if (it == streams_.end()) {
    splitmix64 rng{derive_seed(opt_.seed, 2, static_cast<std::uint64_t>(trial))};
    filler_source source(opt_.filler, rng);
    it = streams_.emplace(trial, stream{rng, source, {}}).first;
  }
  stream& st = it->second;
  const std::vector<piece> filler = pick_filler(st, target - fixed, length_tolerance(target));
  std::vector<std::int64_t> offset{0};  // filler tokens before boundary b
  for (const piece& f : filler)
    offset.push_back(offset.back() + static_cast<std::int64_t>(f.count));
  std::vector<prompt> out;
  for (const double depth : depths) {
    std::vector<std::size_t> boundary;
    for (std::size_t j = 0; j < k.size(); ++j) {
      // needle j at (j + depth) / n of the filler: one per quarter for needles
      const double at = (static_cast<double>(j) + depth) / static_cast<double>(k.size()) *
                        static_cast<double>(offset.back());
      std::size_t b = 0;
      for (std::size_t c = 1; c < offset.size(); ++c)
        if (std::fabs(static_cast<double>(offset[c]) - at) <
            std::fabs(static_cast<double>(offset[b]) - at))
          b = c;
      boundary.push_back(b);
    }
    prompt p = assemble(filler, k, boundary);
    p.target = target;
    p.depth = depth;
    p.trial = trial;
    out.push_back(std::move(p));
  }
  return out;
}

inline std::vector<prompt> prompt_builder::build_train_documents(std::int64_t doc_len,
                                                                 const std::vector<double>& depths,
                                                                 int trials) {
  const std::int64_t fixed = train_fixed_len();
  if (doc_len < fixed)
    shiftrope::fail("length ", doc_len, " is below the training documents' minimum (", fixed,
                    " bytes: BOS, instruction, needle, question, answer, EOS)");
  splitmix64 rng{opt_.seed + static_cast<std::uint64_t>(doc_len)};
  std::vector<prompt> out;
  for (const double depth : depths)
    for (int t = 0; t < trials; ++t) {
      const std::string key = std::to_string(10000 + rng.below(90000));
      std::vector<piece> filler;
      std::int64_t used = 0;
      filler_source source(opt_.filler, rng);  // data.py's draw_filler: cast, then sentences;
      for (;;) {                               // the overflowing draw is dropped
        const std::string s = " " + source.next(rng);
        if (used + static_cast<std::int64_t>(s.size()) > doc_len - fixed) break;
        used += static_cast<std::int64_t>(s.size());
        const std::vector<int>& ids = sentence_ids(s.substr(1));
        filler.push_back({&ids, ids.size()});
      }
      const auto index =
          static_cast<std::size_t>(std::floor(depth * static_cast<double>(filler.size()) + 0.5));
      prompt p = assemble(filler, {key}, {index});
      p.target = doc_len;
      p.depth = depth;
      p.trial = t;
      out.push_back(std::move(p));
    }
  return out;
}

}  // namespace eval
