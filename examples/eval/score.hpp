// examples/eval/score.hpp - scoring generated text against keys.
//
// A key is found only as a whole maximal run of ASCII digits: "12345.",
// " 12345 is", "12345\n" hold the run "12345"; "1234" (a partial key) and
// "123456" (a longer run) do not match 12345, and neither does any other
// number.
//   passkey: correct when the FIRST digit run of the output is the key (an
//            earlier wrong number fails the case);
//   needles: the fraction of the keys that appear as some digit run (each
//            key counted once), as the paper's NIAH scores 4 needles.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace eval {

/// The maximal runs of ASCII digits of text, in order.
inline std::vector<std::string_view> digit_runs(std::string_view text) {
  std::vector<std::string_view> runs;
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  for (std::size_t i = 0; i < text.size();) {
    if (!digit(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && digit(text[j])) ++j;
    runs.push_back(text.substr(i, j - i));
    i = j;
  }
  return runs;
}

/// Passkey rule: the first digit run of output equals key.
inline bool passkey_correct(std::string_view output, std::string_view key) {
  const std::vector<std::string_view> runs = digit_runs(output);
  return !runs.empty() && runs.front() == key;
}

/// Needles rule: how many of keys appear as a digit run of output.
inline int keys_found(std::string_view output, const std::vector<std::string>& keys) {
  const std::vector<std::string_view> runs = digit_runs(output);
  int found = 0;
  for (const std::string& k : keys)
    if (std::find(runs.begin(), runs.end(), std::string_view(k)) != runs.end()) ++found;
  return found;
}

}  // namespace eval
