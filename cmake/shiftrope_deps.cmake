# Finds shiftrope's dependencies; used by the build and by the installed
# package config alike, so consumers see exactly what the build saw.
#
# Debian's xsimd 8.1 config links an `xtl` target that its package does not
# install (linking fails with "cannot find -lxtl"). The xsimd headers we use
# do not need xtl, so when no xtl target exists we drop it from xsimd's
# interface instead of requiring another package.
if(NOT TARGET xsimd)
  find_package(xtl CONFIG QUIET)
  find_package(xsimd CONFIG REQUIRED)
endif()
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_shiftrope_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_shiftrope_xsimd_libs)
    list(REMOVE_ITEM _shiftrope_xsimd_libs xtl)
    set_target_properties(xsimd PROPERTIES INTERFACE_LINK_LIBRARIES "${_shiftrope_xsimd_libs}")
  endif()
endif()
if(SHIFTROPE_OPENMP AND NOT TARGET OpenMP::OpenMP_CXX)
  find_package(OpenMP REQUIRED COMPONENTS CXX)
endif()

# PCRE2, 8-bit library: Unicode character classes (\p{L}, \p{N}, \s) for the
# byte-level BPE pre-tokenizer regexes (tokenizer.hpp); only the full target
# shiftrope::shiftrope needs it, so it is looked for only when
# SHIFTROPE_FIND_PCRE2 is on, and its absence is not an error here: the
# caller decides (SHIFTROPE_PCRE2_MESSAGE says what is missing). Found by
# header and library name, so neither pkg-config nor a CMake package file is
# needed (Debian's libpcre2-dev ships no CMake config).
if(SHIFTROPE_FIND_PCRE2 AND NOT TARGET shiftrope::pcre2)
  find_path(SHIFTROPE_PCRE2_INCLUDE_DIR pcre2.h)
  find_library(SHIFTROPE_PCRE2_LIBRARY NAMES pcre2-8)
  if(SHIFTROPE_PCRE2_INCLUDE_DIR AND SHIFTROPE_PCRE2_LIBRARY)
    add_library(shiftrope::pcre2 INTERFACE IMPORTED)
    set_target_properties(shiftrope::pcre2 PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${SHIFTROPE_PCRE2_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${SHIFTROPE_PCRE2_LIBRARY}")
  else()
    set(SHIFTROPE_PCRE2_MESSAGE "shiftrope::shiftrope needs PCRE2's 8-bit library and pcre2.h "
      "(Debian: libpcre2-dev); found header '${SHIFTROPE_PCRE2_INCLUDE_DIR}', "
      "library '${SHIFTROPE_PCRE2_LIBRARY}'")
    string(CONCAT SHIFTROPE_PCRE2_MESSAGE ${SHIFTROPE_PCRE2_MESSAGE})
  endif()
endif()
