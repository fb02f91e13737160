#pragma once
// The sessions app of the sqlite-on-disk / sessions-sql scenarios, shared with the platform
// benchmark (bench/platform_bench.cpp, session-hour and scale-n): one container class whose Durable
// Object keeps user sessions, and the container program that does the compute.
//
// Routes: POST /session/<id> (body = the session's data) creates or replaces a session,
// GET /session/<id> reads it back (404 if unknown), GET /work is the compute (5 ms in the container).
// - SqlSessions keeps the sessions in the Durable Object's SQL storage, which outlives every
//   container stop (platform-facts §8 item 12); /work is proxied to the container.
// - DiskSessions proxies everything to the container; with session_app(p, true) the container
//   keeps the sessions in /data/sessions.db on its ephemeral disk, which every stop wipes (§1.8,
//   §8 item 11).

#include <string>

#include "model/containers/container.h"
#include "model/containers/runtime.h"
#include "model/world.h"

namespace cfsim {

// How long the container spends on one /work request.
inline constexpr Duration kSessionWork = Duration::millis(5);

// The container's program: serves /work on 8080 and, with `sessions_on_disk`, /session/* from a
// file on its disk. Exits 0 on SIGTERM.
void session_app(Process& p, bool sessions_on_disk);

struct SqlSessions : Container {
  SqlSessions(DurableObjectState& c, ContainerPlatform& p);
  Response fetch(const Request& r) override;
};

struct DiskSessions : Container {
  DiskSessions(DurableObjectState& c, ContainerPlatform& p);
};

// Adds the SESSIONS container namespace (SqlSessions, or DiskSessions with sessions on disk) to
// `world` with max_instances instances at most.
DurableObjectNamespace& add_sessions_app(World& world, bool sessions_on_disk, int max_instances = 20);

}  // namespace cfsim
