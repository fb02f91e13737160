// Alarms (platform-facts §4.6, D5a, D6): one per object; setting replaces; the handler runs as a
// request of its own; a failed handler is retried with doubling backoff; setAlarm()/deleteAlarm()
// are writes of the current batch, so a crash before they are durable reverts them.

#include "model/durable_objects/namespace.h"
#include "model/durable_objects/object_host.h"
#include "sim/assert.h"

namespace cfsim {

void ObjectHost::schedule_alarm_event(Time at) {
  alarm_timer_.arm_at(std::max(at, sim_.now()), [this] { fire_alarm(); });
}

void ObjectHost::cancel_alarm_event() { alarm_timer_.cancel(); }

void ObjectHost::change_alarm(std::optional<Time> t) {
  // setAlarm()/deleteAlarm() are storage operations (§4.4, §4.6): the change joins the current
  // write batch, a reply waits until it is durable, and a crash or failed commit before then
  // reverts it (revert_alarm). The alarm is scheduled at once, so it fires on time even while the
  // change is still in flight (the platform would start it once committed, at most one round trip
  // later).
  alarm_time_ = t;
  alarm_dirty_ = true;
  ++alarm_writes_;
  if (t) schedule_alarm_event(*t);
  else cancel_alarm_event();
  // Outside the object's request fibers no suspension closes the batch: close it now, or the
  // change would wait for unrelated traffic to become durable.
  if (sim_.fiber_context() != this) close_batch();
}

void ObjectHost::revert_alarm() {
  // The unconfirmed batches are lost, and the alarm changes made in them with them: back to the
  // last durable alarm, scheduled or none.
  if (!alarm_dirty_) return;
  alarm_dirty_ = false;
  alarm_time_ = durable_alarm_;
  sim_.record("do", "alarm_reverted", {{"object", label_}, {"scheduled", alarm_time_.has_value()}, {"at", alarm_time_.value_or(Time::zero())}});
  if (alarm_time_) schedule_alarm_event(*alarm_time_);
  else cancel_alarm_event();
}

void ObjectHost::fire_alarm() {
  if (!alarm_time_) return;
  if (alarm_running_) return;  // alarms never overlap: alarm_settled() fires it once the handler is done
  AlarmInfo info{alarm_retries_ > 0, alarm_retries_, *alarm_time_};
  alarm_time_.reset();  // an alarm counts as set until it starts (D5a)
  // The runtime takes a durable alarm. One whose setting is still in flight stays as it was
  // underneath: a crash before the setting is durable brings the earlier alarm back.
  if (!alarm_dirty_) durable_alarm_.reset();
  alarm_running_ = true;
  sim_.record("do", "alarm_fire", {{"object", label_}, {"retry_count", info.retry_count}});
  run_request("alarm", "", [info](DurableObject& o) { o.alarm(info); }, nullptr);
}

void ObjectHost::alarm_failed() {
  if (alarm_retries_ >= ns_.options_.alarm_max_retries) {
    sim_.record("do", "alarm_gave_up", {{"object", label_}, {"retries", alarm_retries_}});
    alarm_retries_ = 0;
  } else if (alarm_time_) {  // the handler set a new alarm before failing: that one stands, fresh
    alarm_retries_ = 0;
  } else {
    ++alarm_retries_;
    CFSIM_ASSERT(alarm_retries_ >= 1 && alarm_retries_ < 63);  // the backoff shift stays in range
    Duration backoff = ns_.options_.alarm_retry_first_backoff * (int64_t{1} << (alarm_retries_ - 1));
    alarm_time_ = sim_.now() + backoff;
    durable_alarm_ = alarm_time_;  // the platform's retry, not a write of the object: no crash loses it
    sim_.record("do", "alarm_retry", {{"object", label_}, {"retry", alarm_retries_}, {"at", *alarm_time_}});
    schedule_alarm_event(*alarm_time_);
  }
  alarm_settled();
}

void ObjectHost::alarm_settled() {
  alarm_running_ = false;
  // An alarm that came due while the handler ran (set by the handler itself, say) had its event
  // consumed without firing: give it one now.
  if (alarm_time_ && !alarm_timer_.armed()) schedule_alarm_event(*alarm_time_);
}

}  // namespace cfsim
