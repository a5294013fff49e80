// cmake/forward_instances.cpp - the one instantiation of the forward pass
// (detail/model/forward.hpp: every KV cache type, every weight type's
// kernels) shared by the project's own binaries. Programs, tests and
// benchmarks that run sessions are compiled with SHIFTROPE_EXTERN_FORWARD
// and link this object (target shiftrope_forward) instead of compiling the
// forward pass themselves: the library stays header-only for its users.
#undef SHIFTROPE_EXTERN_FORWARD
#define SHIFTROPE_INSTANTIATE_FORWARD
#include <shiftrope/model.hpp>
