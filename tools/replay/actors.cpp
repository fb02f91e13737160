#include "tools/replay/actors.h"

#include <fmt/format.h>

namespace cfsim::cli {

const char* store_title(std::string_view category) {
  if (category == "disk") return "container disk";
  if (category == "storage") return "DO storage";
  if (category == "r2") return "R2";
  if (category == "kv") return "KV";
  return nullptr;
}

std::string store_scope(const Record& r) {
  for (const char* key : {"container", "do", "object", "bucket", "namespace", "mount", "scope"})
    if (const Value* v = r.field(key)) return value_text(*v);
  return "";
}

std::string ActorMap::fiber_name(uint32_t id, const std::string& recorded_name) const {
  if (id == 0) return "kernel";
  if (!recorded_name.empty()) return recorded_name;
  auto it = fibers_.find(id);
  return it != fibers_.end() ? it->second : fmt::format("fiber {}", id);
}

std::string ActorMap::actor_of(const Record& r) {
  if (r.phase == Phase::instant) return by_rules(r);
  std::string key = r.category + '/' + r.name + '/' + r.field_text("id");
  auto& open = open_spans_[key];
  if (r.phase == Phase::begin) {
    open.push_back(by_rules(r));
    return open.back();
  }
  if (open.empty()) return by_rules(r);
  std::string a = std::move(open.back());
  open.pop_back();
  return a;
}

std::string ActorMap::by_rules(const Record& r) {
  if (const Value* a = r.field("actor"); a && std::holds_alternative<std::string>(*a)) return std::get<std::string>(*a);

  const std::string& c = r.category;
  if (c == "fiber") {
    const Value* id = r.field("id");
    if (id && std::holds_alternative<int64_t>(*id)) {
      int64_t fid = std::get<int64_t>(*id);
      if (r.name == "life" && r.phase == Phase::begin) fibers_[fid] = r.field_text("name");
      auto it = fibers_.find(fid);
      if (it != fibers_.end() && !it->second.empty()) return it->second;
      return fmt::format("fiber {}", fid);
    }
  }
  if (c == "fault") return "faults";
  if (c == "check") return "checks";
  if (c == "meta") return "kernel";
  if (c == "worker") return "Worker";
  auto scoped = [&](std::string title, std::initializer_list<const char*> keys) {
    for (const char* k : keys)
      if (const Value* v = r.field(k)) return title + " " + value_text(*v);
    return title;
  };
  if (c == "do") return scoped("DO", {"do", "object", "name"});
  if (c == "container") return scoped("container", {"container", "name"});
  if (const char* store = store_title(c)) {
    std::string title = c == "storage" ? "DO storage" : c == "disk" ? "disk" : store;
    std::string scope = store_scope(r);
    return scope.empty() ? title : title + " " + scope;
  }
  return fiber_name(r.fiber, r.fiber_name);
}

}  // namespace cfsim::cli
