#pragma once
// Fault injection, the generic part. Fault model: a run is disturbed only by what its fault plan
// says (sim/fault_plan.h) and by buggify sites. Every seam registers its verbs and knobs here in
// one shape — a declaration (name, target form, arguments with their ranges and units, the
// platform fact it models) plus a handler and an optional target check — so that:
//  - a plan is checked whole when it is applied, before anything runs: unknown verbs (an old name
//    gets the new one in the message), unknown or missing arguments, values out of range, unknown
//    knobs and knob values out of range, targets that name nothing (the verb's check) — each a
//    FaultPlanError naming the value and the limit;
//  - the swarm fault space is derived from the declarations (fault_space()), never written out by
//    hand, and `cfsim faults` prints the same declarations as a table;
//  - every action that fires, every knob and every buggify decision is a trace record, so the trace
//    alone tells what was injected.
// Naming rule: a verb starts with its seam ("container-", "do-", "net-", "r2-", "kv-"; a
// scenario's own verbs with "app-"); a knob is "<seam>.<what>_<unit>"; an argument ends in its
// unit (duration_ms, extra_ms, loss_ppm, latency_percent) unless it is a plain count or code.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/fault_plan.h"
#include "sim/random.h"
#include "sim/scheduler.h"

namespace cfsim {

// One argument of a fault verb.
struct FaultArgDecl {
  std::string name;                 // ends in its unit: duration_ms, loss_ppm (or a count: exit_code)
  std::string about;                // what it means, in a few words
  int64_t lo = 0, hi = 0;           // accepted values, inclusive: apply() rejects anything else
  std::optional<int64_t> fallback;  // the value when an action leaves it out; nullopt: required
  int64_t draw_lo = 0, draw_hi = 0; // what swarm plans draw (inside lo..hi)
  bool word = false;                // a word, not an integer (an image version): the verb's check
                                    // validates it, and swarm plans never draw it
};

// What a verb's target names.
enum class FaultTarget {
  none,                 // no target
  object,               // "BINDING/name": one Durable Object (or container) instance
  container_namespace,  // "BINDING": a container namespace
  service,              // "host.example": an external service on the network
  bucket,               // "BINDING": an R2 bucket
  kv_namespace,         // "BINDING": a Workers KV namespace
};
const char* to_string(FaultTarget t);

struct FaultVerbDecl {
  std::string name;                    // seam first: "container-crash"
  std::string seam;                    // "containers", "durable_objects", "net", "r2", "workers_kv", "app"
  FaultTarget target = FaultTarget::none;
  std::vector<FaultArgDecl> args;
  std::string models;                  // the platform behaviour it stands for, and its public source
  bool hand_only = false;              // never drawn by swarm plans (`models` says why)
  std::vector<std::string> old_names;  // names before the naming rule: a plan using one fails, naming this
  std::vector<std::pair<std::string, std::string>> old_args;  // {old, new} argument names, likewise
};

struct FaultKnobDecl {
  std::string name;                  // "<seam>.<what>_<unit>": r2.latency_percent
  std::string about;                 // what it changes, in a few words
  int64_t lo = 0, hi = 0;            // accepted values, inclusive
  int64_t fallback = 0;              // the value when the plan does not set it (no change)
  int64_t draw_lo = 0, draw_hi = 0;  // what swarm plans draw
  std::string models;                // the platform behaviour it stands for, and its public source
};

// The names swarm plans may target, by kind.
struct FaultTargets {
  std::vector<std::string> objects;              // "BINDING/name"
  std::vector<std::string> container_namespaces; // "BINDING"
  std::vector<std::string> services;             // "host.example"
  std::vector<std::string> buckets;              // "BINDING"
  std::vector<std::string> kv_namespaces;        // "BINDING"
};

// The swarm space of these declarations over these targets: every verb that is not hand-only and
// has at least one target of its kind (or needs none), in declaration order, with the draw ranges
// of its integer arguments; every knob with its draw range.
FaultSpace fault_space(const std::vector<FaultVerbDecl>& verbs, const std::vector<FaultKnobDecl>& knobs,
                       const FaultTargets& targets, Duration horizon, size_t max_actions);

// Schedules a plan's actions on a simulator and answers knob and buggify questions.
class FaultInjector {
 public:
  using Handler = std::function<void(const FaultAction&)>;

  explicit FaultInjector(Simulator& sim) : sim_(sim) {}

  // Registers a verb: its declaration, its handler (called on the scheduler at the action's time;
  // must not block: spawn a fiber for anything that waits) and, if given, a check that validates
  // an action's target when a plan is applied (throwing FaultPlanError). The arguments are checked
  // against the declaration before `check` runs, so neither has to range-check them.
  // std::invalid_argument for a malformed declaration or a name registered twice.
  void define(FaultVerbDecl decl, Handler handler, Handler check = {});
  void define_knob(FaultKnobDecl decl);
  // Runs right after a plan is applied (in registration order), so a seam can read its knobs once.
  void after_apply(std::function<void()> fn) { after_apply_.push_back(std::move(fn)); }

  // Checks the whole plan (see the top of this file) and that every action lies in the future,
  // then schedules the actions and records the knobs. Throws FaultPlanError before scheduling
  // anything. Once per injector: a second call is a FaultPlanError (merge plans first).
  void apply(const FaultPlan& plan);
  // The plan's value of a registered knob, or its fallback. std::logic_error for an unknown name
  // (a model reading a knob it never declared).
  int64_t knob(std::string_view name) const;
  const FaultPlan& plan() const { return plan_; }
  Simulator& sim() const { return sim_; }
  const std::vector<FaultVerbDecl>& verbs() const { return verb_decls_; }
  const std::vector<FaultKnobDecl>& knobs() const { return knob_decls_; }

  // Buggify: when enabled for the run, each named site is switched on for the whole run with
  // probability 1/4 the first time it is asked about; a switched-on site then fires with
  // probability fire_num/fire_den per call. Each site draws from its own stream, so adding a site
  // changes no other site's decisions. Off (never fires) unless set_buggify(true).
  // std::invalid_argument if fire_den == 0 or fire_num > fire_den, even when off.
  void set_buggify(bool on) { buggify_on_ = on; }
  bool buggify_enabled() const { return buggify_on_; }
  bool buggify(std::string_view site, uint64_t fire_num = 1, uint64_t fire_den = 20);

 private:
  struct Verb {
    size_t decl;  // index into verb_decls_
    Handler handler, check;
  };
  struct Site {
    bool enabled;
    Random rng;
  };
  void check_action_against(const FaultAction& a, const FaultVerbDecl& d) const;
  [[noreturn]] void unknown_verb(const FaultAction& a) const;
  void check_knobs(const FaultPlan& plan) const;

  Simulator& sim_;
  std::vector<FaultVerbDecl> verb_decls_;
  std::vector<FaultKnobDecl> knob_decls_;
  std::map<std::string, Verb, std::less<>> verbs_;
  std::map<std::string, size_t, std::less<>> knob_index_;
  std::vector<std::function<void()>> after_apply_;
  std::map<std::string, Site, std::less<>> sites_;
  FaultPlan plan_;
  bool applied_ = false;
  bool buggify_on_ = false;
};

}  // namespace cfsim
