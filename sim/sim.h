#pragma once
// The whole kernel in one include.
#include "sim/faults.h"
#include "sim/random.h"
#include "sim/simulator.h"
#include "sim/sync.h"
#include "sim/time.h"
#include "sim/trace.h"
#include "sim/trace_file.h"
