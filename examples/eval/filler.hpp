// examples/eval/filler.hpp - the seeded generator and the filler sentences
// shared by the prompt builder (prompt.hpp) and the replay of tools/train's
// training stream (train_stream.hpp): splitmix64 exactly as
// tools/train/data.py, and its filler grammar (plus two other fillers).
// No dependency on the library.
#pragma once

#include <cstdint>
#include <string>

namespace eval {

/// splitmix64 exactly as tools/train/data.py (its below(n) = next() % n).
struct splitmix64 {
  std::uint64_t state = 0;
  std::uint64_t next() noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
};

/// A seed derived from (seed, a, b): one splitmix64 step of their mix.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b) noexcept {
  splitmix64 r{seed ^ (a * 0xD6E8FEB86659FD93ull) ^ (b * 0xA0761D6478BD642Full)};
  return r.next();
}

enum class filler_kind {
  grammar,  ///< tools/train's "The {character} {verb} the {place}." over a drawn cast
  story,    ///< "{Name} {verb} {adj} {noun} {place}." in TinyStories' words
  grass,    ///< llama.cpp's five junk sentences in a fixed cycle (no seed)
};

/// Filler sentences (without the leading space) of one kind. The grammar
/// kind mirrors tools/train/data.py: a document first draws its cast
/// (3 characters "adj noun", then 3 places "adj place", adjective first),
/// then each sentence is "The {character} {verb} the {place}." with three
/// draws in that order. The story kind draws five words per sentence; grass
/// cycles llama.cpp's five sentences and draws nothing.
class filler_source {
 public:
  static constexpr int cast_size = 3;

  /// Draws the cast from rng (grammar kind only).
  filler_source(filler_kind kind, splitmix64& rng) : kind_(kind) {
    if (kind_ != filler_kind::grammar) return;
    for (std::string& c : characters_) {
      c = pick(adjectives(), rng);
      c += " " + pick(nouns(), rng);
    }
    for (std::string& p : places_) {
      p = pick(adjectives(), rng);
      p += " " + pick(place_words(), rng);
    }
  }

  /// The next sentence.
  std::string next(splitmix64& rng) {
    static const char* const name[8] = {"Lily", "Tom", "Ben", "Mia", "Sam", "Anna", "Max", "Sue"};
    static const char* const does[8] = {"saw a",  "found a", "had a",    "played with a",
                                        "drew a", "made a",  "wanted a", "liked a"};
    static const char* const looks[8] = {"big",   "small", "red",   "blue",
                                         "happy", "soft",  "shiny", "little"};
    static const char* const thing[8] = {"ball", "cat",  "dog", "bird",
                                         "box",  "tree", "car", "flower"};
    static const char* const where[8] = {"in the park",   "at home",     "near the pond",
                                         "in the garden", "by the tree", "on the hill",
                                         "at school",     "in the yard"};
    static const char* const grass[5] = {"The grass is green.", "The sky is blue.",
                                         "The sun is yellow.", "Here we go.",
                                         "There and back again."};
    switch (kind_) {
      case filler_kind::grammar: {
        std::string s = "The " + characters_[rng.below(cast_size)];
        s += " " + pick(verbs(), rng);
        return s + " the " + places_[rng.below(cast_size)] + ".";
      }
      case filler_kind::story: {
        std::string s = pick(name, rng);
        s += " " + pick(does, rng);
        s += " " + pick(looks, rng);
        s += " " + pick(thing, rng);
        return s + " " + pick(where, rng) + ".";
      }
      case filler_kind::grass:
        break;
    }
    return grass[count_++ % 5];
  }

  // data.py's word lists (8 words each), in its order.
  static const char* const* adjectives() {
    static const char* const w[8] = {"red",   "old",   "small", "big",
                                     "quiet", "green", "happy", "tall"};
    return w;
  }
  static const char* const* nouns() {
    static const char* const w[8] = {"fox", "cat", "dog", "bird", "man", "girl", "boy", "horse"};
    return w;
  }
  static const char* const* verbs() {
    static const char* const w[8] = {"walks to", "runs to",    "looks at",  "sits near",
                                     "waits by", "jumps over", "goes past", "sleeps under"};
    return w;
  }
  static const char* const* place_words() {
    static const char* const w[8] = {"mill", "river",  "house",  "park",
                                     "hill", "bridge", "market", "garden"};
    return w;
  }

 private:
  static std::string pick(const char* const* words, splitmix64& rng) { return words[rng.below(8)]; }

  filler_kind kind_;
  std::string characters_[cast_size], places_[cast_size];
  std::uint64_t count_ = 0;
};

}  // namespace eval
