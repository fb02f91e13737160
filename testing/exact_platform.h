#pragma once
// Container platform options for tests that check exact virtual times: a fixed 2 s cold start
// and no Durable Object <-> container hop latency.

#include <chrono>

#include "model/containers/runtime.h"

namespace cfsim::testing_support {

inline ContainerPlatformOptions exact_options() {
  ContainerPlatformOptions o;
  o.cold_start = {std::chrono::seconds(2), 0};
  o.hop_latency = Duration::zero();
  return o;
}

}  // namespace cfsim::testing_support
