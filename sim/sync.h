#pragma once
// Synchronisation in virtual time: promise/future, channel (bounded or unbounded), event, mutex.
// Every blocking call has a form with a deadline that reports a timeout. All of them are built on
// WaitQueue (simulator.h); none reads a clock or touches a thread.

#include <cstdint>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "sim/scheduler.h"

namespace cfsim {

enum class WaitStatus { ok, timeout, closed };
const char* to_string(WaitStatus s);

namespace detail {
// now + d as a deadline, saturating at Time::max() (a huge timeout means "forever", never a
// wrapped-around time in the past).
inline Time deadline_after(Time now, Duration d) {
  if (d.ns > 0 && d.ns > INT64_MAX - now.ns) return Time::max();
  return now + d;
}
}  // namespace detail

// --- promise / future ------------------------------------------------------------------------------

template <class T>
struct SharedState {
  explicit SharedState(Simulator& s, std::string n) : sim(&s), name(std::move(n)), waiters(s) {}
  Simulator* sim;
  std::string name;
  std::optional<T> value;
  std::exception_ptr error;
  WaitQueue waiters;
  bool ready() const { return value.has_value() || error; }
};

template <class T>
class Future {
 public:
  Future() = default;
  explicit Future(std::shared_ptr<SharedState<T>> s) : s_(std::move(s)) {}
  bool valid() const { return s_ != nullptr; }
  bool ready() const { return s_ && s_->ready(); }
  // Blocks until the value is set; rethrows a stored exception. Futures are shared: every caller
  // gets a copy of the value.
  T get() {
    wait_until(Time::max());
    if (s_->error) std::rethrow_exception(s_->error);
    return *s_->value;
  }
  // True if ready by the deadline (it may already be ready: then this never blocks).
  bool wait_until(Time deadline) {
    if (!s_) throw SimError("Future: no shared state");
    while (!s_->ready()) {
      if (!s_->waiters.wait({"future", &s_->name}, deadline)) return s_->ready();
    }
    return true;
  }
  bool wait_for(Duration d) {
    if (!s_) throw SimError("Future: no shared state");
    return wait_until(detail::deadline_after(s_->sim->now(), d));
  }

 private:
  std::shared_ptr<SharedState<T>> s_;
};

template <class T>
class Promise {
 public:
  explicit Promise(Simulator& sim, std::string name = "promise")
      : s_(std::make_shared<SharedState<T>>(sim, std::move(name))) {}
  Future<T> future() const { return Future<T>(s_); }
  void set_value(T v) {
    check_unset();
    s_->value.emplace(std::move(v));
    s_->waiters.notify_all();
  }
  void set_exception(std::exception_ptr e) {
    check_unset();
    s_->error = std::move(e);
    s_->waiters.notify_all();
  }
  bool ready() const { return s_->ready(); }

 private:
  void check_unset() const {
    if (s_->ready()) throw SimError(fmt::format("promise '{}' is already satisfied", s_->name));
  }
  std::shared_ptr<SharedState<T>> s_;
};

// --- channel ------------------------------------------------------------------------------------------

class ChannelClosed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class T>
struct Received {
  WaitStatus status;
  std::optional<T> value;  // set iff status == ok
};

// A FIFO of messages between fibers. Unbounded by default; a bounded channel blocks senders
// while it holds `capacity` messages. After close(), receivers drain what is left and then get
// `closed`; senders get ChannelClosed.
template <class T>
class Channel {
 public:
  static constexpr size_t kUnbounded = std::numeric_limits<size_t>::max();

  explicit Channel(Simulator& sim, std::string name = "channel", size_t capacity = kUnbounded)
      : sim_(&sim), name_(std::move(name)), capacity_(capacity), receivers_(sim), senders_(sim) {
    if (capacity == 0)
      throw SimError(fmt::format("channel '{}': capacity must be at least 1 (got 0)", name_));
    // A waiter woken for a message (or a free slot) but killed before it ran passes the wake-up
    // on; otherwise the message would sit there while the next waiter sleeps forever.
    receivers_.set_on_abandoned_wake([this] { receivers_.notify_one(); });
    senders_.set_on_abandoned_wake([this] { senders_.notify_one(); });
  }

  void send(T v) {
    if (send_until(std::move(v), Time::max()) != WaitStatus::ok)
      throw ChannelClosed(fmt::format("send on closed channel '{}'", name_));
  }
  // ok, timeout (the channel stayed full), or closed.
  WaitStatus send_until(T v, Time deadline) {
    while (!closed_ && items_.size() >= capacity_) {
      if (!senders_.wait({"channel send", &name_}, deadline) && !closed_ && items_.size() >= capacity_)
        return WaitStatus::timeout;
    }
    if (closed_) return WaitStatus::closed;
    items_.push_back(std::move(v));
    receivers_.notify_one();
    return WaitStatus::ok;
  }
  bool try_send(T v) {
    if (closed_ || items_.size() >= capacity_) return false;
    items_.push_back(std::move(v));
    receivers_.notify_one();
    return true;
  }

  // The next message, or nullopt once the channel is closed and empty.
  std::optional<T> recv() { return recv_until(Time::max()).value; }
  Received<T> recv_until(Time deadline) {
    while (items_.empty()) {
      if (closed_) return {WaitStatus::closed, std::nullopt};
      if (!receivers_.wait({"channel recv", &name_}, deadline) && items_.empty())
        return {closed_ ? WaitStatus::closed : WaitStatus::timeout, std::nullopt};
    }
    T v = std::move(items_.front());
    items_.pop_front();
    senders_.notify_one();
    return {WaitStatus::ok, std::move(v)};
  }
  Received<T> recv_for(Duration d) { return recv_until(detail::deadline_after(sim_->now(), d)); }
  std::optional<T> try_recv() {
    if (items_.empty()) return std::nullopt;
    T v = std::move(items_.front());
    items_.pop_front();
    senders_.notify_one();
    return v;
  }

  void close() {
    closed_ = true;
    receivers_.notify_all();
    senders_.notify_all();
  }
  bool closed() const { return closed_; }
  size_t size() const { return items_.size(); }
  const std::string& name() const { return name_; }

 private:
  Simulator* sim_;
  std::string name_;
  size_t capacity_;
  bool closed_ = false;
  std::deque<T> items_;
  WaitQueue receivers_, senders_;
};

// --- event --------------------------------------------------------------------------------------------

// A manual-reset event: wait() returns at once while it is set.
class Event {
 public:
  explicit Event(Simulator& sim, std::string name = "event") : sim_(&sim), name_(std::move(name)), waiters_(sim) {}
  void set() {
    set_ = true;
    waiters_.notify_all();
  }
  void reset() { set_ = false; }
  bool is_set() const { return set_; }
  void wait() { wait_until(Time::max()); }
  bool wait_until(Time deadline) {
    while (!set_)
      if (!waiters_.wait({"event", &name_}, deadline)) return set_;
    return true;
  }
  bool wait_for(Duration d) { return wait_until(detail::deadline_after(sim_->now(), d)); }

 private:
  Simulator* sim_;
  std::string name_;
  bool set_ = false;
  WaitQueue waiters_;
};

// --- mutex --------------------------------------------------------------------------------------------

// A FIFO mutex between fibers: unlock() hands ownership to the longest waiter.
class Mutex {
 public:
  explicit Mutex(Simulator& sim, std::string name = "mutex") : sim_(&sim), name_(std::move(name)), waiters_(sim) {
    // A waiter handed the lock but killed before it ran hands it on, or a dead fiber would hold it.
    waiters_.set_on_abandoned_wake([this] {
      if (owner_ != 0 && owner_ == sim_->current().id()) hand_over();
    });
  }
  void lock() { lock_until(Time::max()); }
  bool try_lock();
  bool lock_until(Time deadline);
  bool lock_for(Duration d) { return lock_until(detail::deadline_after(sim_->now(), d)); }
  void unlock();
  bool locked() const { return owner_ != 0; }

 private:
  uint32_t caller(const char* op) const;
  void hand_over();  // frees the lock, or gives it straight to the longest waiter
  Simulator* sim_;
  std::string name_;
  uint32_t owner_ = 0;       // fiber id of the holder, 0 = free
  WaitQueue waiters_;
};

class LockGuard {
 public:
  explicit LockGuard(Mutex& m) : m_(m) { m_.lock(); }
  ~LockGuard() { m_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Mutex& m_;
};

}  // namespace cfsim
