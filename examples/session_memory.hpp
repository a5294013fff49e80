// examples/session_memory.hpp - opens a session for an example program after
// checking, before anything is allocated, that its context fits in this
// machine's memory; the refusal, or an allocation that fails anyway, is a
// cli_error naming the flag that sized the context (not part of the library).
//
// Why: a session allocates its KV cache up front for n_ctx positions, and
// n_ctx follows the flags (-n, --steps, --ctx, --lengths). The library caps
// the cache at session_params::max_kv_bytes (64 GiB), which is above the
// memory of most machines, so `-n 4000000` used to end in std::bad_alloc.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <shiftrope/model.hpp>
#include <string>
#include <string_view>

#include "cli.hpp"

namespace cli {

/// Physical memory in bytes (sysconf), or 0 when the system does not say.
inline std::uint64_t physical_memory_bytes() noexcept {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0)
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
#endif
  return 0;
}

/// Bytes with two decimals in GiB, for messages (UINT64_MAX: an overflow).
inline std::string gib(std::uint64_t bytes) {
  if (bytes == ~std::uint64_t{0}) return "more than 2^64 bytes";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
  return buf;
}

/// A session of m with sp. `flag` sized the context; `what`, when not empty,
/// says how (it starts the message, e.g. "4000000 new tokens after a 2-token
/// prompt"), else the message gives the context's positions alone.
/// Refused before allocating when the KV cache is above sp.max_kv_bytes or
/// the context's memory above this machine's physical memory; a
/// std::bad_alloc while allocating is reported the same way.
inline std::unique_ptr<shiftrope::session> open_session(const shiftrope::model& m,
                                                        const shiftrope::session_params& sp,
                                                        std::string_view flag,
                                                        const std::string& what) {
  const shiftrope::session_memory cm = shiftrope::session_memory_of(m.config(), sp);
  const std::string takes = (what.empty() ? "" : what + ": ") + "a context of " +
                            std::to_string(cm.n_ctx) + " positions takes " + gib(cm.total) + " (" +
                            shiftrope::kv_type_name(sp.kv) + " KV cache and RoPE table)";
  if (cm.kv > sp.max_kv_bytes)
    throw cli_error(flag, takes + ", above the KV cache cap of " + gib(sp.max_kv_bytes));
  const std::uint64_t physical = physical_memory_bytes();
  if (physical > 0 && cm.total > physical)
    throw cli_error(flag, takes + ", more than this machine's memory (" + gib(physical) + ")");
  try {
    return std::make_unique<shiftrope::session>(m, sp);
  } catch (const std::bad_alloc&) {
    throw cli_error(flag, takes + ", and allocating it failed (out of memory)");
  }
}

}  // namespace cli
