#pragma once
// For tests that wire a platform by hand instead of through cfsim::World: a target resolver that
// accepts any instance name of one namespace (World checks names against declare_instances).

#include <string>
#include <utility>
#include <vector>

#include "model/durable_objects/faults.h"

namespace cfsim::testing_support {

inline ObjectTargetResolver any_instance_of(std::vector<DurableObjectNamespace*> namespaces) {
  return [namespaces](const FaultAction& a) -> std::pair<DurableObjectNamespace*, std::string> {
    const size_t slash = a.target.find('/');
    for (DurableObjectNamespace* ns : namespaces)
      if (slash != std::string::npos && slash + 1 < a.target.size() && a.target.substr(0, slash) == ns->name())
        return {ns, a.target.substr(slash + 1)};
    throw FaultPlanError("fault '" + a.verb + "': target '" + a.target + "' is not NAMESPACE/name of a namespace here");
  };
}
inline ObjectTargetResolver any_instance_of(DurableObjectNamespace& ns) { return any_instance_of(std::vector{&ns}); }

}  // namespace cfsim::testing_support
