// shiftrope/load_mode.hpp - how a model file's bytes come into memory.
#pragma once

#include <shiftrope/error.hpp>
#include <string_view>

namespace shiftrope {

/// How gguf_file::open, llama2c_checkpoint::open and model::open hold a file.
enum class load_mode {
  /// Memory-map it read-only: nothing is copied, pages come in on first use
  /// and are shared with the page cache (and other processes). 4 KiB pages.
  map,
  /// Read it whole into 2 MiB-aligned memory advised as transparent huge
  /// pages (detail/big_buffer.hpp): one copy, resident at once, and decoding,
  /// which streams every weight per token, reads it faster (fewer TLB misses,
  /// prefetchers not stopped at every 4 KiB). Costs the file's size in
  /// private memory, and the open takes as long as reading the file.
  copy,
};

[[nodiscard]] constexpr const char* load_mode_name(load_mode m) noexcept {
  return m == load_mode::copy ? "copy" : "map";
}

/// "map" or "copy" -> load_mode; throws naming the value otherwise.
[[nodiscard]] inline load_mode parse_load_mode(std::string_view s) {
  if (s == "map") return load_mode::map;
  if (s == "copy") return load_mode::copy;
  fail("load_mode: expected map or copy, got \"", s, "\"");
}

}  // namespace shiftrope
