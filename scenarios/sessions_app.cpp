#include "scenarios/sessions_app.h"

#include <variant>

namespace cfsim {

namespace {

using namespace std::chrono_literals;

std::string session_id(const Request& r) { return r.path().substr(std::string("/session/").size()); }
bool is_session(const Request& r) { return r.path().rfind("/session/", 0) == 0; }

}  // namespace

void session_app(Process& p, bool sessions_on_disk) {
  p.fs().mkdir("/data", true);
  p.listen(8080, [&p, sessions_on_disk](const Request& r) {
    if (r.path() == "/work") {
      p.sim().sleep_for(kSessionWork);  // the compute the container is there for
      return Response(200, "worked");
    }
    if (!sessions_on_disk || !is_session(r)) return Response(404, "not found");
    const std::string id = session_id(r), file = "/data/sessions.db";
    if (r.method == "POST") {
      p.fs().append_file(file, id + "=" + r.body + "\n");
      return Response(200, "created");
    }
    if (!p.fs().exists(file)) return Response(404, "no such session");
    std::string all = p.fs().read_file(file), found;
    for (size_t pos = 0; pos < all.size();) {
      size_t nl = all.find('\n', pos);
      std::string line = all.substr(pos, nl - pos);
      if (line.rfind(id + "=", 0) == 0) found = line.substr(id.size() + 1);
      pos = nl == std::string::npos ? all.size() : nl + 1;
    }
    return found.empty() ? Response(404, "no such session") : Response(200, found);
  });
  p.on_signal(kSigTerm, [&p] { p.exit(0); });  // a well-behaved app: exit on SIGTERM
}

SqlSessions::SqlSessions(DurableObjectState& c, ContainerPlatform& p) : Container(c, p) {
  default_port = 8080;
  sleep_after = 10min;
  ctx().storage().sql().exec("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, data TEXT)");
}

Response SqlSessions::fetch(const Request& r) {
  if (!is_session(r)) return Container::fetch(r);
  SqlStorage& s = ctx().storage().sql();
  if (r.method == "POST") {
    s.exec("INSERT OR REPLACE INTO sessions (id, data) VALUES (?, ?)", {session_id(r), r.body});
    return Response(200, "created");
  }
  auto row = s.exec("SELECT data FROM sessions WHERE id = ?", {session_id(r)}).next();
  return row ? Response(200, std::get<std::string>((*row)[0])) : Response(404, "no such session");
}

DiskSessions::DiskSessions(DurableObjectState& c, ContainerPlatform& p) : Container(c, p) {
  default_port = 8080;
  sleep_after = 10min;
}

DurableObjectNamespace& add_sessions_app(World& world, bool sessions_on_disk, int max_instances) {
  ContainerImage image;
  image.main = [sessions_on_disk](Process& p) { session_app(p, sessions_on_disk); };
  ContainerNamespaceOptions options;
  options.max_instances = max_instances;
  if (sessions_on_disk) return world.add_container<DiskSessions>("SESSIONS", std::move(image), options);
  return world.add_container<SqlSessions>("SESSIONS", std::move(image), options);
}

}  // namespace cfsim
