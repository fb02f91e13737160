#include "model/durable_objects/options.h"

namespace cfsim {

std::vector<std::pair<std::string, std::string>> run_info(const DurableObjectOptions& o, const std::string& prefix) {
  return {{prefix + "backend", to_string(o.backend)},
          {prefix + "durability_latency", format_duration(o.durability_latency)},
          {prefix + "idle_eviction_after", format_duration(o.idle_eviction_after)},
          {prefix + "block_concurrency_timeout", format_duration(o.block_concurrency_timeout)},
          {prefix + "alarm_retry_first_backoff", format_duration(o.alarm_retry_first_backoff)},
          {prefix + "alarm_max_retries", std::to_string(o.alarm_max_retries)},
          {prefix + "delete_all_deletes_alarm", o.delete_all_deletes_alarm ? "true" : "false"},
          {prefix + "max_database_bytes", std::to_string(o.storage.max_database_bytes)}};
}

}  // namespace cfsim
