// tests/forward_instances.cpp - the one instantiation of the forward pass
// that every test executable links (part of the shared test main): the test
// files are compiled with SHIFTROPE_EXTERN_FORWARD, so none of them compiles
// the forward pass itself (detail/model/forward.hpp).
#undef SHIFTROPE_EXTERN_FORWARD
#define SHIFTROPE_INSTANTIATE_FORWARD
#include <shiftrope/model.hpp>
