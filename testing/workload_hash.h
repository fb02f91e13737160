#pragma once
// The hash of a run's workload: every record except the header (category "meta": the seed, the
// options, the scenario and fault-plan names). A run's trace hash covers the header too, so two
// seeds always give different trace hashes, even when they took the very same steps; a check that
// "different seeds take different paths" must compare workload hashes to be able to fail.
//
//   auto workload = std::make_shared<WorkloadHashSink>();
//   options.sinks = {workload};
//   run(options);
//   workload->hash();

#include <cstdint>
#include <span>

#include "sim/hash.h"
#include "sim/trace.h"

namespace cfsim::testing_support {

inline bool is_workload_record(const Record& r) { return r.category != "meta"; }

// Hashes the workload records as a run writes them (nothing kept in memory).
class WorkloadHashSink : public TraceSink {
 public:
  void write(const Record& r) override {
    if (is_workload_record(r)) hasher_.add(record_hash(r));
  }
  uint64_t hash() const { return hasher_.state; }

 private:
  Hasher hasher_;
};

// The same hash over records already held (a MemorySink's).
inline uint64_t workload_hash(std::span<const Record> records) {
  WorkloadHashSink h;
  for (const Record& r : records) h.write(r);
  return h.hash();
}

}  // namespace cfsim::testing_support
