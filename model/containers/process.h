#pragma once
// The container's process: what the application's main gets (platform-facts.md §1.1, §1.2, §2,
// §7.1). Its fault model is the runtime's (model/containers/runtime.h): it ends by itself (exit,
// crash, OOM) or is ended by the runtime, and every stop kills all of its fibers at once, fails
// the requests it serves with kConnectionLost, drops its WebSockets and wipes its disk.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/containers/disk.h"
#include "model/containers/errors.h"
#include "model/http/http.h"
#include "model/net/network.h"
#include "sim/scheduler.h"
#include "sim/sync.h"

namespace cfsim {

class ContainerRuntime;

// The process's view: what the application's main gets. Every function must be called from one
// of the process's own fibers unless it says otherwise.
class Process : public std::enable_shared_from_this<Process> {
 public:
  using Handler = std::function<Response(const Request&)>;

  Simulator& sim() { return sim_; }
  const std::string& label() const { return label_; }
  const std::string& image_version() const { return image_version_; }
  const std::vector<std::string>& entrypoint() const { return entrypoint_; }
  bool internet_enabled() const { return internet_; }

  // Serves `port` (1..65535; std::invalid_argument if taken or out of range): each request runs
  // in its own fiber of this process. A throw out of the handler crashes the process (exit 1).
  void listen(int port, Handler handler);
  void unlisten(int port);
  bool listening(int port) const { return listeners_.count(port) != 0; }
  // The environment: image env, then start() env, then the runtime's CLOUDFLARE_* variables.
  std::optional<std::string> env(std::string_view name) const;
  const std::map<std::string, std::string>& environment() const { return env_; }
  // The local disk: fresh from the image at every start, sized by the instance type.
  Disk& fs() { return *disk_; }
  // Installs a handler for signo (not SIGKILL or SIGSTOP: std::invalid_argument). It runs in a
  // new fiber of this process when the signal arrives. Without one, SIGCHLD/SIGCONT/SIGURG/
  // SIGWINCH are ignored and every other signal terminates the process with 128 + signo.
  void on_signal(int signo, std::function<void()> handler);
  // Ends the process with `code`. Does not return when called from one of its fibers.
  void exit(int code);
  // A background fiber owned by the process (killed when it stops). A throw out of it crashes it.
  FiberHandle spawn(std::string name, std::function<void()> body);
  // Outbound HTTP through the network with this instance's egress policy. localhost, 127.0.0.1
  // and 10.0.0.1 reach this process's own listeners.
  Response fetch(Request req);
  // A TCP connection to a simulated database (Network::connect_db) with this instance's egress
  // policy; closed when the process stops (its endpoint detaches).
  DbConnection connect_db(std::string_view host, int port = Network::kDatabasePort);
  EndpointId endpoint() const { return endpoint_; }
  // Memory accounting against the instance type: past memory_bytes the process is OOM-killed
  // (exit 137; does not return). free_memory below zero is std::invalid_argument.
  void allocate_memory(int64_t bytes);
  void free_memory(int64_t bytes);
  int64_t memory_used() const { return memory_used_; }
  int64_t memory_limit() const { return memory_limit_; }
  bool alive() const { return alive_; }

  Process(ContainerRuntime& rt, std::string image_version, std::map<std::string, std::string> env,
          std::vector<std::string> entrypoint, bool internet, int64_t memory_limit, std::unique_ptr<Disk> disk);
  ~Process();

 private:
  friend class ContainerRuntime;
  friend class TcpPort;
  struct Pending {
    std::shared_ptr<Promise<Response>> reply;
  };
  FiberHandle spawn_fiber(std::string name, std::function<void()> body, bool is_main);
  void maybe_exit_idle();  // main returned: exit 0 once nothing is left to serve
  void track_stream(const std::shared_ptr<BodyStream>& s);  // fail it with kConnectionLost at stop
  // An accepted WebSocket upgrade: `given` is the end this process handed out in its 101
  // response; when the process stops, its own end's side drops (the holder of `given` sees 1006).
  void track_websocket(const std::shared_ptr<WebSocket>& given);
  // Runs req on the listener of `port` in a new fiber; waits until `deadline` for the reply.
  Response serve(int port, Request req, Time deadline);

  ContainerRuntime& rt_;
  Simulator& sim_;
  std::string label_;
  std::string image_version_;
  std::map<std::string, std::string> env_;
  std::vector<std::string> entrypoint_;
  bool internet_;
  int64_t memory_limit_;
  int64_t memory_used_ = 0;
  std::unique_ptr<Disk> disk_;
  EndpointId endpoint_ = 0;
  bool alive_ = true;
  bool main_returned_ = false;
  std::map<int, Handler> listeners_;
  std::map<int, std::function<void()>> signal_handlers_;
  std::map<uint32_t, FiberHandle> fibers_;  // live fibers of this process, by id
  std::map<uint64_t, Pending> pending_;     // requests being served, by sequence number
  // Streamed response bodies this process may still be producing: failed with kConnectionLost
  // when it stops (model/http/body_stream.h).
  std::vector<std::weak_ptr<BodyStream>> streams_;
  // Ends of accepted WebSockets handed out by this process (model/http/websocket.h).
  std::vector<std::weak_ptr<WebSocket>> websockets_;
  uint64_t next_request_ = 0;
  uint64_t next_fiber_ = 0;
};

}  // namespace cfsim
