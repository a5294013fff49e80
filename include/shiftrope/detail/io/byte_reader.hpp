// shiftrope/detail/io/byte_reader.hpp - a bounds-checked little-endian cursor
// over untrusted bytes (GGUF, llama2.c files). Every read checks the bytes
// left first and throws shiftrope::error naming the file, what was being
// read and the offset; nothing reads past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <shiftrope/error.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error \
    "shiftrope reads little-endian files by reinterpreting bytes: big-endian hosts are not supported"
#endif

namespace shiftrope::detail {

class byte_reader {
 public:
  /// `kind` and `name` start every message: "<kind> '<name>': ...".
  byte_reader(const std::uint8_t* data, std::size_t size, const char* kind,
              const std::string& name) noexcept
      : data_(data), size_(size), kind_(kind), name_(name) {}

  std::size_t pos() const noexcept { return pos_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t remaining() const noexcept { return size_ - pos_; }
  const std::uint8_t* base() const noexcept { return data_; }

  /// Text put before `what` in truncation messages (e.g. "metadata entry 3 'x': ").
  void set_context(std::string context) { context_ = std::move(context); }
  const std::string& context() const noexcept { return context_; }

  /// Throws "<kind> '<name>': <context><parts...>".
  template <class... Parts>
  [[noreturn]] void error(Parts&&... parts) const {
    fail(kind_, " '", name_, "': ", context_, std::forward<Parts>(parts)...);
  }

  /// Checks that n more bytes exist; otherwise a truncation error about `what`.
  void need(std::uint64_t n, const char* what) const {
    if (n > remaining())
      error("file truncated while reading ", what, " at offset ", pos_, " (need ", n, " bytes, ",
            remaining(), " left)");
  }

  /// Returns a pointer to the next n bytes and moves past them.
  const std::uint8_t* take(std::uint64_t n, const char* what) {
    need(n, what);
    const std::uint8_t* p = data_ + pos_;
    pos_ += static_cast<std::size_t>(n);
    return p;
  }

  /// Reads one little-endian scalar (memcpy: no alignment requirement).
  template <class T>
  T read(const char* what) {
    static_assert(std::is_trivially_copyable_v<T>, "read<T> needs a trivially copyable T");
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }

  /// Moves to absolute offset `pos` (pos <= size()).
  void seek(std::size_t pos, const char* what) {
    if (pos > size_) error("offset ", pos, " of ", what, " is past the end (", size_, " bytes)");
    pos_ = pos;
  }

 private:
  const std::uint8_t* data_;  // [size_] bytes
  std::size_t size_;
  std::size_t pos_ = 0;
  const char* kind_;
  const std::string& name_;
  std::string context_;
};

/// a * b, or false when it overflows uint64.
inline bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
  return !__builtin_mul_overflow(a, b, &out);
}

/// a + b, or false when it overflows uint64.
inline bool checked_add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
  return !__builtin_add_overflow(a, b, &out);
}

}  // namespace shiftrope::detail
