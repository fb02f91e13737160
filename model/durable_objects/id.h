#pragma once
// Durable Object ids (D10): 64 hex digits, deterministic in (namespace, name) for named ids, drawn
// from the run's seed for unique ones. The last 16 digits tag the namespace, so an id from another
// namespace is recognised (idFromString throws for ids of another namespace). The namespace's
// id_from_name, new_unique_id and id_from_string are defined in id.cpp, beside the scheme.

#include <string>

namespace cfsim {

// A 64-hex-digit id. The last 16 digits tag the namespace.
class DurableObjectId {
 public:
  const std::string& hex() const { return hex_; }
  const std::string& name() const { return name_; }  // the name it came from, "" for unique ids
  std::string label() const;  // name, or the first 8 hex digits
  bool operator==(const DurableObjectId& o) const { return hex_ == o.hex_; }
  bool operator<(const DurableObjectId& o) const { return hex_ < o.hex_; }

 private:
  friend class DurableObjectNamespace;
  std::string hex_, name_;
};

// The 16 hex digits that tag the namespace `name` inside its ids.
std::string namespace_id_tag(const std::string& name);

}  // namespace cfsim
