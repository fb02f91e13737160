#pragma once
// cfsim's property-test layer, header-only (target cfsim::testing: cfsim::cfsim + GoogleTest +
// RapidCheck). Link GTest::gtest_main too, or write your own main.
//   testing/fault_plans.h     RapidCheck generators of fault plans over a FaultSpace
//                             (World::fault_space), shrinking to the fewest, earliest faults
//   testing/test_world.h      a World with exact platform timings and a trace kept in memory
//   testing/exact_platform.h  container platform options without jitter
//   testing/workload_hash.h   the hash of a run's workload (its trace without the header)
//   testing/bare_faults.h     fault targets for a platform wired by hand, without a World

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "cfsim/cfsim.h"

#include "testing/bare_faults.h"
#include "testing/exact_platform.h"
#include "testing/fault_plans.h"
#include "testing/test_world.h"
#include "testing/workload_hash.h"
