// The id scheme: how a namespace names its objects and recognises its own ids (D10).

#include "model/durable_objects/id.h"

#include <fmt/format.h>

#include "model/durable_objects/namespace.h"
#include "model/durable_objects/object_host.h"
#include "sim/assert.h"
#include "sim/hash.h"

namespace cfsim {

namespace {
std::string hex16(uint64_t v) { return fmt::format("{:016x}", v); }

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

std::string DurableObjectId::label() const { return name_.empty() ? hex_.substr(0, 8) : name_; }

std::string namespace_id_tag(const std::string& name) { return hex16(hash_string("cfsim-do-namespace\x1f" + name)); }

DurableObjectId DurableObjectNamespace::id_from_name(std::string_view name) const {
  // Deterministic in (namespace, name), as on the platform (D10).
  DurableObjectId id;
  for (int k = 0; k < 3; ++k) id.hex_ += hex16(hash_string(fmt::format("{}\x1f{}\x1f{}", k, name_, name)));
  id.hex_ += tag_;
  id.name_ = std::string(name);
  CFSIM_ASSERT(id.hex_.size() == 64);
  return id;
}

DurableObjectId DurableObjectNamespace::new_unique_id() {
  DurableObjectId id;
  for (int k = 0; k < 3; ++k) id.hex_ += hex16(unique_ids_.next_u64());
  id.hex_ += tag_;
  CFSIM_ASSERT(id.hex_.size() == 64);
  return id;
}

DurableObjectId DurableObjectNamespace::id_from_string(std::string_view hex) const {
  if (hex.size() != 64 || !is_lower_hex(hex))
    throw std::invalid_argument(fmt::format("Invalid Durable Object ID: '{}' must be 64 lowercase hex digits", hex));
  if (hex.substr(48) != tag_)
    throw std::invalid_argument(fmt::format("Durable Object ID '{}' belongs to another namespace than '{}'", hex, name_));
  DurableObjectId id;
  id.hex_ = std::string(hex);
  if (auto it = hosts_.find(id.hex_); it != hosts_.end()) id.name_ = it->second->id().name();
  return id;
}

}  // namespace cfsim
