// shiftrope.hpp - the umbrella header: everything shiftrope offers.
#pragma once

#include "shiftrope/error.hpp"
#include "shiftrope/numeric.hpp"
#include "shiftrope/position_map.hpp"
#include "shiftrope/rope.hpp"
