// shiftrope/detail/io/gguf_encode.hpp - little-endian encoding of GGUF
// fields (integers, strings, the value type of a C++ scalar) for the writer.
#pragma once

#include <cstdint>
#include <cstring>
#include <shiftrope/gguf_value.hpp>
#include <string_view>
#include <type_traits>
#include <vector>

namespace shiftrope {
namespace detail {

template <class T>
void put_le(std::vector<std::uint8_t>& out, T v) {
  static_assert(std::is_trivially_copyable_v<T>, "put_le needs a trivially copyable T");
  const std::size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

inline void put_string(std::vector<std::uint8_t>& out, std::string_view s) {
  put_le<std::uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

/// The GGUF value type of a C++ arithmetic type.
template <class T>
constexpr gguf_value_type gguf_type_of() noexcept {
  if constexpr (std::is_same_v<T, std::uint8_t>) return gguf_value_type::uint8;
  if constexpr (std::is_same_v<T, std::int8_t>) return gguf_value_type::int8;
  if constexpr (std::is_same_v<T, std::uint16_t>) return gguf_value_type::uint16;
  if constexpr (std::is_same_v<T, std::int16_t>) return gguf_value_type::int16;
  if constexpr (std::is_same_v<T, std::uint32_t>) return gguf_value_type::uint32;
  if constexpr (std::is_same_v<T, std::int32_t>) return gguf_value_type::int32;
  if constexpr (std::is_same_v<T, std::uint64_t>) return gguf_value_type::uint64;
  if constexpr (std::is_same_v<T, std::int64_t>) return gguf_value_type::int64;
  if constexpr (std::is_same_v<T, float>) return gguf_value_type::float32;
  if constexpr (std::is_same_v<T, double>) return gguf_value_type::float64;
  return gguf_value_type::array;  // not a scalar type: rejected by add_array
}

}  // namespace detail

}  // namespace shiftrope
