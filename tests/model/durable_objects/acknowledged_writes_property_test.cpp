// Property: a Durable Object's KV data under crashes and resets (platform-facts §4.4, §8 items
// 21-22). A client sends batches of puts and deletes, one request per batch, while the object's
// machine crashes and its isolate resets at generated times. Afterwards the stored data must be
// what the acknowledged batches wrote, plus some of the unacknowledged batches, each whole:
// acknowledged writes are never lost; unacknowledged ones are fully present or fully absent.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §4.4 and §8 items 21-22: /durable-objects/api/storage-api/ (D3), /durable-objects/reference/glossary/
//     (D11), https://blog.cloudflare.com/sqlite-in-durable-objects/ (D13)
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>

#include "model/durable_objects/durable_object.h"

using namespace cfsim;

namespace {

struct Op {
  bool put;
  std::string key;
  int64_t value;
};
using Batch = std::vector<Op>;

struct KvObject : DurableObject {
  using DurableObject::DurableObject;
  void apply(const Batch& b) {
    for (const Op& op : b) {
      if (op.put) ctx().storage().put(op.key, StoredValue(op.value));
      else ctx().storage().del(op.key);
    }
  }
};

struct Fault {
  int64_t at_us;
  bool crash;  // else a plain reset
};

void apply(std::map<std::string, int64_t>& m, const Batch& b) {
  for (const Op& op : b) {
    if (op.put) m[op.key] = op.value;
    else m.erase(op.key);
  }
}

RC_GTEST_PROP(DurableObjectKvProperty, AcknowledgedWritesSurviveAndBatchesAreAtomic, ()) {
  const auto keys = rc::gen::elementOf(std::vector<std::string>{"a", "b", "c", "d"});
  const auto op = rc::gen::build<Op>(rc::gen::set(&Op::put, rc::gen::arbitrary<bool>()), rc::gen::set(&Op::key, keys),
                                     rc::gen::set(&Op::value, rc::gen::inRange<int64_t>(0, 1000)));
  const auto batches = *rc::gen::resize(20, rc::gen::nonEmpty(rc::gen::container<std::vector<Batch>>(
                                                 rc::gen::resize(4, rc::gen::nonEmpty(rc::gen::container<Batch>(op))))));
  const auto faults = *rc::gen::resize(6, rc::gen::container<std::vector<Fault>>(rc::gen::build<Fault>(
                                               rc::gen::set(&Fault::at_us, rc::gen::inRange<int64_t>(0, 60'000)),
                                               rc::gen::set(&Fault::crash, rc::gen::arbitrary<bool>()))));
  const int64_t gap_us = *rc::gen::inRange<int64_t>(0, 3000);

  Simulator sim;
  DurableObjectNamespace ns(sim, "KV", [](DurableObjectState& c) { return std::make_unique<KvObject>(c); }, {});
  auto stub = ns.get_by_name("x");
  std::vector<bool> acked(batches.size(), false);
  sim.spawn("client", [&] {
    for (size_t i = 0; i < batches.size(); ++i) {
      try {
        stub.call<KvObject>([&, i](KvObject& o) { o.apply(batches[i]); });
        acked[i] = true;
      } catch (const DurableObjectError&) {
      }
      sim.sleep_for(Duration::micros(gap_us));
    }
  });
  for (const Fault& f : faults)
    sim.call_at(Time::zero() + Duration::micros(f.at_us), [&, f] {
      ObjectHost& h = ns.host(stub.id());
      if (f.crash) h.crash("machine crash");
      else h.reset("reset");
    });
  sim.run();

  std::map<std::string, int64_t> actual;
  for (const auto& [k, v] : ns.host(stub.id()).storage_engine().list({})) actual[k] = v.as_int();

  // Acknowledged batches always apply; each unacknowledged one may or may not, whole.
  std::vector<size_t> unacked;
  for (size_t i = 0; i < batches.size(); ++i)
    if (!acked[i]) unacked.push_back(i);
  RC_PRE(unacked.size() <= 12u);  // keep the subset search small
  bool explained = false;
  for (uint64_t mask = 0; mask < (uint64_t{1} << unacked.size()) && !explained; ++mask) {
    std::map<std::string, int64_t> model;
    size_t u = 0;
    for (size_t i = 0; i < batches.size(); ++i) {
      bool take = acked[i];
      if (!acked[i]) take = (mask >> u++) & 1;
      if (take) apply(model, batches[i]);
    }
    explained = model == actual;
  }
  RC_ASSERT(explained);
}

}  // namespace
