// shiftrope/detail/big_buffer.hpp - an allocator for large, streamed
// buffers (KV caches): 2 MiB-aligned and, on Linux, marked for transparent
// huge pages before the first touch.
//
// Why: decoding streams a KV head from memory once per token. With 4 KiB
// pages the hardware prefetchers stop at every page boundary and every page
// costs a TLB miss; a plain two-thread read of a 256 MiB buffer on a Zen 4
// machine ran at 24–28 GB/s on 4 KiB pages and 33–35 GB/s on huge pages.
// Most distributions set transparent huge pages to "madvise", so the hint
// must be asked for; where it is refused the buffer is still valid.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <limits>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace shiftrope::detail {

/// Allocations of at least this many bytes are aligned to it and advised as
/// huge pages; smaller ones only to a cache line.
inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

/// Minimal standard allocator (usable with std::vector) for large buffers.
template <class T>
struct big_buffer_allocator {
  using value_type = T;

  big_buffer_allocator() noexcept = default;
  template <class U>
  big_buffer_allocator(const big_buffer_allocator<U>&) noexcept {}

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T) - huge_page_bytes)
      throw std::bad_alloc();
    const std::size_t bytes = n * sizeof(T);
    const std::size_t align = bytes >= huge_page_bytes ? huge_page_bytes : std::size_t{64};
    const std::size_t rounded = (bytes + align - 1) / align * align;  // aligned_alloc's rule
    void* p = std::aligned_alloc(align, rounded == 0 ? align : rounded);
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == huge_page_bytes) (void)::madvise(p, rounded, MADV_HUGEPAGE);  // a hint only
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept {
    std::free(p);
  }

  template <class U>
  bool operator==(const big_buffer_allocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const big_buffer_allocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace shiftrope::detail
