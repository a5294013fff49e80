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
