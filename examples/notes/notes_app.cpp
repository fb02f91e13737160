#include "notes_app.h"

#include <variant>

using namespace cfsim;
using namespace std::chrono_literals;

namespace notes {

namespace {

// "/notes/abc" -> "abc" for prefix "/notes/"; "" if the path has another prefix.
std::string after(const Request& r, std::string_view prefix) {
  const std::string path = r.path();
  return path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : "";
}

Request post(std::string url, std::string body) {
  Request r;
  r.method = "POST";
  r.url = std::move(url);
  r.body = std::move(body);
  return r;
}

}  // namespace

std::string render(std::string_view note) { return "<p>" + std::string(note) + "</p>"; }

void render_server(Process& p) {
  p.fs().mkdir("/cache", true);
  p.listen(kRenderPort, [&p](const Request& r) {
    const std::string id = after(r, "/render/");
    if (id.empty()) return Response(404, "not found");
    const std::string file = "/cache/" + id + ".html";
    if (p.fs().exists(file)) return Response(200, p.fs().read_file(file));
    p.sim().sleep_for(5ms);  // the rendering is the compute the container is there for
    p.fs().write_file(file, render(r.body));
    return Response(200, p.fs().read_file(file));
  });
  p.on_signal(kSigTerm, [&p] { p.exit(0); });  // a well-behaved app: exit on SIGTERM
}

Notes::Notes(DurableObjectState& state, ContainerPlatform& platform) : Container(state, platform) {
  default_port = kRenderPort;
  sleep_after = 5min;
  ctx().storage().sql().exec("CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, body TEXT)");
}

Response Notes::fetch(const Request& r) {
  const std::string id = after(r, "/notes/");
  if (id.empty()) return Response(404, "not found");
  SqlStorage& sql = ctx().storage().sql();
  if (r.method == "POST") {
    // The reply waits for the write to be durable (the output gate): a 200 means kept.
    sql.exec("INSERT OR REPLACE INTO notes (id, body) VALUES (?, ?)", {id, r.body});
    // Warm the container's cache. If the container is down, the note is kept all the same: only
    // the first read gets slower.
    container_fetch(post("http://container/render/" + id, r.body));
    return Response(200, "kept");
  }
  auto row = sql.exec("SELECT body FROM notes WHERE id = ?", {id}).next();
  if (!row) return Response(404, "no such note");
  // The container renders; if it is down, the SDK starts it again (or answers a 500).
  return container_fetch(post("http://container/render/" + id, std::get<std::string>((*row)[0])));
}

Response worker_fetch(const Request& r, Env& env) {
  const std::string key = after(r, "/attachments/");
  if (key.empty()) return get_container(env.durable_object("NOTES"), "main").fetch(r);
  R2Bucket& bucket = env.r2("ATTACHMENTS");
  try {
    if (r.method == "PUT") {
      bucket.put(key, r.body);
      return Response(200, "stored");
    }
    auto object = bucket.get(key);
    return object ? Response(200, *object->body) : Response(404, "no such attachment");
  } catch (const R2Error& e) {
    return Response(503, e.what());  // R2 failed this call: the client may retry
  }
}

void add_notes_app(World& world) {
  ContainerImage image;
  image.main = render_server;
  world.add_container<Notes>("NOTES", image);
  world.declare_instances("NOTES", {"main"});
  world.add_r2("ATTACHMENTS");
  world.set_worker(worker_fetch);
}

}  // namespace notes
