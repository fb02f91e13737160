#pragma once
// The whole kernel in one include.
#include "sim/fault_injector.h"
#include "sim/fault_plan.h"
#include "sim/random.h"
#include "sim/fiber.h"
#include "sim/scheduler.h"
#include "sim/wait.h"
#include "sim/sync.h"
#include "sim/timer.h"
#include "sim/time.h"
#include "sim/trace.h"
#include "sim/trace_file.h"
