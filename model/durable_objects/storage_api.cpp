// ctx.storage's calls that reach past the engine: the alarm (kept by the host) and deleteAll.

#include "model/durable_objects/storage_api.h"

#include "model/durable_objects/namespace.h"
#include "model/durable_objects/object_host.h"

namespace cfsim {

void DurableObjectStorage::set_alarm(Time t) {
  host_.wait_for_transaction_gate();
  host_.sim_.record("do", "alarm_set", {{"object", host_.label_}, {"at", t}});
  host_.change_alarm(t);
}

std::optional<Time> DurableObjectStorage::get_alarm() const {
  host_.wait_for_transaction_gate();
  return host_.alarm_time_;  // read-your-writes: a change not yet durable included
}

void DurableObjectStorage::delete_alarm() {
  host_.wait_for_transaction_gate();
  host_.sim_.record("do", "alarm_deleted", {{"object", host_.label_}});
  host_.change_alarm(std::nullopt);
}

void DurableObjectStorage::delete_all() {
  engine_.delete_all();
  if (host_.ns_.options().delete_all_deletes_alarm) delete_alarm();
}

}  // namespace cfsim
