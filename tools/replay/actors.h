#pragma once
// Who did what: each trace record belongs to one actor, a column of the timeline and a track of the
// Perfetto export. The rules (docs/trace-format.md, "Actors"), first match wins:
//   1. a string field "actor";
//   2. fiber.* records with an "id" field: the fiber with that id (fiber.life begins in its parent);
//   3. category "fault": "faults";   category "check": "checks";   "meta": "kernel";
//   4. category "worker": "Worker";  "do": "DO <do|object|name>";  "container": "container <container|name>";
//      "disk": "disk", "storage": "DO storage", "r2": "R2", "kv": "KV" (each with its scope, if any);
//   5. otherwise the fiber that recorded it, by name ("kernel" for fiber 0).
// Fibers are known by name, so a restarted worker keeps its column. A span's end record belongs to
// the actor of its begin (matched by category, name and "id"), whatever its own fields say.

#include <map>
#include <string>
#include <vector>

#include "sim/trace.h"

namespace cfsim::cli {

class ActorMap {
 public:
  // Call on every record in order: fiber names are learnt from fiber.life begin records.
  std::string actor_of(const Record& r);

 private:
  std::string by_rules(const Record& r);
  std::string fiber_name(uint32_t id, const std::string& recorded_name) const;
  std::map<int64_t, std::string> fibers_;
  std::map<std::string, std::vector<std::string>> open_spans_;  // span key -> actors, innermost last
};

// The data stores app data can live in, by trace category; nullptr if `category` is not one.
// "disk" -> "container disk", "storage" -> "DO storage", "r2" -> "R2", "kv" -> "KV".
const char* store_title(std::string_view category);
// The scope of a store record (which container, object, bucket, namespace): the first present of
// the fields container, do, object, bucket, namespace, mount, scope; "" if none.
std::string store_scope(const Record& r);

}  // namespace cfsim::cli
