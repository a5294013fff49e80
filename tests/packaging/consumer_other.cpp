// A second translation unit including the whole library: duplicate
// definitions of non-inline functions would fail to link.
#include <shiftrope.hpp>

std::int64_t consumer_max_position(std::int64_t length) {
  return shiftrope::max_position(shiftrope::string_remap::paper_default(length), length);
}
