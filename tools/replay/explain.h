#pragma once
// `cfsim explain`: a human account of what happened to the app's data in a trace. It works on any
// trace and says plainly what the trace contains; the data part rests on the record conventions in
// docs/trace-format.md ("App data"), summarised here:
//
//  - A store record has category disk | storage | r2 | kv; its piece of data is named by a "key"
//    or "path" field, within a scope (store_scope() in actors.h: container, do, object, bucket...).
//  - Its name says what it does:
//      write:  write put set create append upload insert update   (may carry durable=true)
//      delete: delete remove unlink delete_all                    (the app's own deletion)
//      read:   read get head stat list   (outcome fields: found=false or missing=true: not there;
//              stale=true, or a value/version/etag/size differing from the last write: stale)
//      commit: commit fsync sync flush durable  (earlier writes in scope, or to that key, are durable)
//      loss:   wipe lose lost reset — everything in scope (or that key) is gone, durable or not;
//              rollback discard — what was not yet durable in scope (or that key) is gone
//              (with a "since" field in ns: the writes at or after that time instead).
//  - With no key or path, a delete or loss covers its whole scope (or the whole store, unscoped).
//
// For each piece of data that a loss took, and for each later read that found it missing or stale,
// the account names the record that caused it (index, time, actor).

#include <optional>
#include <span>
#include <string>

#include "sim/trace.h"

namespace cfsim::cli {

struct ExplainInput {
  std::span<const Record> records;
  std::optional<uint64_t> footer_hash, footer_count;  // absent: the run was aborted
  std::string origin;                                 // file name, for the first line
};

std::string explain_trace(const ExplainInput& in);

}  // namespace cfsim::cli
