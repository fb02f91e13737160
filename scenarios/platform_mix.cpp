// platform-mix: one shop behind one Worker, exercising most of the container platform at once —
// orders that charge an external payments API from the container and are recorded in the Durable
// Object's SQL storage, reports streamed in chunks from the container, and a WebSocket echo
// channel — under container, Durable Object and network faults.
//
// The container records each order in an external database (the ledger), which outlives every
// container stop as Durable Object storage does; the app reads the ledger through the container,
// the final check reads the database itself.
//
// Two container instances ("shop-0", "shop-1"), sleepAfter 2 minutes, so containers sleep, wake
// and get restarted many times in a run.
//
// Fault model (swarm): container crashes and host restarts, Durable Object resets and crashes, a
// partitioned or lossy payments API.
// Invariants:
// - every order acknowledged to a client (200) is still recorded in the Durable Object at the end
//   (platform-facts §8 item 12: storage outlives every container stop), was charged, and is in
//   the ledger;
// - a streamed report that arrives as a success (200, body ended) is whole and exact: a body cut
//   by a container stop must fail loudly (BodyStreamError), never end short (§8 item 8);
// - WebSocket echoes come back in order, one per message, until the socket closes (messages are
//   sent in bursts, so the relay's order is exercised); the close a client sees is 1000 (the SDK
//   rewrites 1005/1006, platform-facts §3) unless the Durable Object relaying it was reset while it
//   was open — by a do-reset, a do-crash, a failed commit, anything — (then 1006).

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "model/http/body_stream.h"
#include "model/http/websocket.h"
#include "model/world.h"
#include "scenarios/registry.h"

namespace cfsim {

namespace {

using namespace std::chrono_literals;

constexpr int kShops = 2;
constexpr int kBuyers = 3, kOrdersPerBuyer = 5;
constexpr int kReaders = 3, kReportsPerReader = 6;
constexpr int kChatters = 2, kMessagesPerChatter = 12;
constexpr int kReportChunks = 10;
constexpr size_t kChunkBytes = 1024;
constexpr Duration kChunkInterval = Duration::seconds(2);
constexpr std::string_view kPayments = "payments.example";
constexpr std::string_view kLedger = "ledger.db";
constexpr int kLedgerConnections = 4;

std::string expected_report() {
  std::string all;
  for (int i = 0; i < kReportChunks; ++i) all += std::string(kChunkBytes, static_cast<char>('a' + i));
  return all;
}

std::string order_id(const Request& r) { return r.path().substr(std::string("/order/").size()); }
bool is_order(const Request& r) { return r.path().rfind("/order/", 0) == 0; }

// The container's program, one handler per route.
// /report: kReportChunks chunks, one every kChunkInterval, from a writer fiber of the process (so a
// container stop cuts the body mid-stream).
Response serve_report(Process& p) {
  auto body = BodyStream::create(p.sim(), "report");
  p.spawn("report-writer", [&p, body] {
    for (int i = 0; i < kReportChunks; ++i) {
      p.sim().sleep_for(kChunkInterval);
      body->write(std::string(kChunkBytes, static_cast<char>('a' + i)));
    }
    body->close();
  });
  return streaming_response(body);
}

// /chat: a WebSocket that echoes every message until the other side closes it.
Response serve_chat(Process& p, const Request& r) {
  if (auto refused = expect_websocket_upgrade(r)) return *refused;
  auto [mine, theirs] = WebSocket::make_pair(p.sim(), "chat");
  p.spawn("chat-echo", [mine = mine] {
    for (;;) {
      WebSocketEvent e = mine->receive();
      if (e.is_close()) {
        mine->close(kWsNormalClosure);
        return;
      }
      mine->send("echo:" + e.data);
    }
  });
  return websocket_response(theirs);
}

// POST /order/<id>: charge first; only a successful charge is confirmed. A network failure is an
// answer (502), not a crash of the whole process.
Response serve_order(Process& p, const Request& r) {
  Request charge;
  charge.method = "POST";
  charge.url = fmt::format("https://{}/charge/{}", kPayments, order_id(r));
  charge.body = r.body;
  try {
    Response paid = p.fetch(charge);
    if (paid.status != 200) return Response(502, "payment declined");
    // Then the ledger, an external database: it outlives the container, its disk does not.
    DbConnection db = p.connect_db(kLedger);
    if (db.query(fmt::format("SET order:{} {}", order_id(r), r.body)) != "OK") return Response(502, "ledger refused");
  } catch (const NetError& e) {
    return Response(502, fmt::format("payment or ledger unreachable: {}", e.what()));
  }
  return Response(200, "charged");
}

// /ledger/<id>: what the ledger holds for an order.
Response serve_ledger(Process& p, const Request& r) {
  try {
    DbConnection db = p.connect_db(kLedger);
    std::string v = db.query("GET order:" + r.path().substr(std::string("/ledger/").size()));
    return v == "(nil)" ? Response(404, "not in the ledger") : Response(200, v);
  } catch (const NetError& e) {
    return Response(503, fmt::format("ledger unreachable: {}", e.what()));
  }
}

void shop_app(Process& p) {
  p.listen(8080, [&p](const Request& r) -> Response {
    if (r.path() == "/report") return serve_report(p);
    if (r.path() == "/chat") return serve_chat(p, r);
    if (is_order(r) && r.method == "POST") return serve_order(p, r);
    if (r.path().rfind("/ledger/", 0) == 0) return serve_ledger(p, r);
    return Response(404, "not found");
  });
  p.on_signal(kSigTerm, [&p] { p.exit(0); });
}

// The Durable Object: records confirmed orders in SQL; everything else goes to the container.
struct Shop : Container {
  Shop(DurableObjectState& c, ContainerPlatform& p) : Container(c, p) {
    default_port = 8080;
    sleep_after = 2min;
    ctx().storage().sql().exec("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, amount TEXT)");
  }
  Response fetch(const Request& r) override {
    if (!is_order(r)) return Container::fetch(r);
    SqlStorage& s = ctx().storage().sql();
    if (r.method == "GET") {
      auto row = s.exec("SELECT amount FROM orders WHERE id = ?", {order_id(r)}).next();
      return row ? Response(200, std::get<std::string>((*row)[0])) : Response(404, "no such order");
    }
    Response charged = Container::fetch(r);
    if (charged.status != 200) return charged;
    s.exec("INSERT OR REPLACE INTO orders (id, amount) VALUES (?, ?)", {order_id(r), r.body});
    return Response(200, "ordered");
  }
};

Request make_request(std::string method, std::string path, int shop, std::string body = "") {
  Request r{.method = std::move(method), .url = "https://shop.example" + path, .body = std::move(body)};
  r.headers.set("x-shop", std::to_string(shop));
  return r;
}

struct Order {
  std::string id, amount;
  int shop;
};

// One chatter's socket: what the check of its close needs to know.
struct ChatSocket {
  int chatter, shop;
  WebSocket::Ptr ws;
  Time opened;
  uint64_t opened_incarnation;  // of the shop's Durable Object when the upgrade was sent
};

// One run: the world, what the clients saw, and the run's steps in order (build the shop, start
// the buyers, readers and chatters, the final check, the verdict and report).
class MixRun {
 public:
  MixRun(const Scenario& self, const ScenarioOptions& o) : world_(sim_options_for(self, o), WorldOptions{}, o.sinks), sim_(world_.sim()) {
    build_shop();
    result_.plan = apply_faults(world_.faults(), self, o);
  }

  ScenarioResult run(const ScenarioOptions& o) {
    start_buyers();
    start_readers();
    start_chatters();
    start_final_check(world_, clients_, 5min, [this] { check_orders(); });
    result_.run = world_.run(limits_for(o));
    judge();
    close_trace(sim_, result_);
    return result_;
  }

 private:
  // The shop's Durable Object and container, the Worker routing by "x-shop", and the two external
  // services: the payments API (which remembers what it charged) and the ledger database.
  void build_shop() {
    ContainerImage image;
    image.main = shop_app;
    world_.add_container<Shop>("SHOP", image);
    std::vector<std::string> shop_names;
    for (int s = 0; s < kShops; ++s) shop_names.push_back(fmt::format("shop-{}", s));
    world_.declare_instances("SHOP", shop_names);
    world_.set_worker([](const Request& r, Env& env) {
      return get_container(env.durable_object("SHOP"), "shop-" + r.headers.get("x-shop").value_or("0")).fetch(r);
    });
    world_.net().add_http_service(std::string(kPayments), [this](const Request& r) {
      charged_.insert(r.path().substr(std::string("/charge/").size()));
      return Response(200, "paid");
    });
    world_.net().add_database(std::string(kLedger), kLedgerConnections);
  }

  void violation(std::string what) {
    sim_.record("check", "violation", {{"what", what}});
    violations_.push_back(std::move(what));
  }

  // Buyers: orders, some acknowledged.
  void start_buyers() {
    for (int b = 0; b < kBuyers; ++b)
      clients_.push_back(world_.client(fmt::format("buyer-{}", b), [this, b] {
        Random rng = sim_.random(fmt::format("buyer-{}", b));
        for (int i = 0; i < kOrdersPerBuyer; ++i) {
          sim_.sleep_for(rng.exponential(90s));
          const int shop = static_cast<int>(rng.below(kShops));
          Order order{fmt::format("b{}o{}", b, i), std::to_string(rng.uniform_int(1, 500)), shop};
          Response r = world_.fetch(make_request("POST", "/order/" + order.id, shop, order.amount));
          if (r.status == 200) acked_.push_back(order);
          else ++orders_failed_;
        }
      }));
  }

  // Readers: streamed reports, whole or failed.
  void start_readers() {
    for (int k = 0; k < kReaders; ++k)
      clients_.push_back(world_.client(fmt::format("reader-{}", k), [this, k] {
        Random rng = sim_.random(fmt::format("reader-{}", k));
        for (int i = 0; i < kReportsPerReader; ++i) {
          sim_.sleep_for(rng.exponential(3min));
          Response r = world_.fetch(make_request("GET", "/report", static_cast<int>(rng.below(kShops))));
          if (r.status != 200) ++reports_refused_;
          else read_report(k, r);
        }
      }));
  }

  // A report that ends as a success must be whole; one cut by a container stop must fail loudly.
  void read_report(int reader, const Response& r) {
    try {
      std::string body = read_body(r);
      if (body != report_)
        violation(fmt::format("reader-{} got a report of {} bytes that ended as a success; {} expected", reader, body.size(), report_.size()));
      else
        ++reports_whole_;
    } catch (const BodyStreamError&) {
      ++reports_broken_;  // cut by a stop, and said so
    }
  }

  // Chatters: a WebSocket each, reconnecting when it closes under them, until all their messages
  // have echoed.
  void start_chatters() {
    for (int c = 0; c < kChatters; ++c) clients_.push_back(world_.client(fmt::format("chatter-{}", c), [this, c] { chat(c); }));
  }

  void chat(int c) {
    Random rng = sim_.random(fmt::format("chatter-{}", c));
    const int shop = c % kShops;
    int next = 0;  // the next message to send
    while (next < kMessagesPerChatter) {
      Request up = make_request("GET", "/chat", shop);
      up.headers.set("Upgrade", "websocket");
      // The incarnation before the upgrade is sent: a reset after that — even one between the
      // object accepting the upgrade and the client seeing the 101 — may have dropped this socket.
      const uint64_t before = incarnation(shop);
      Response r = world_.websocket(up);
      if (r.status != 101 || !r.websocket) {
        ++upgrades_refused_;
        sim_.sleep_for(10s);
        continue;
      }
      ChatSocket s{c, shop, r.websocket, sim_.now(), before};
      if (exchange(s, rng, next)) say_goodbye(s);
    }
  }

  // Bursts of 1-3 messages, each followed by reading its echoes: they must come back in order, one
  // per message. Returns whether the socket is still open (false: it closed under the chatter).
  bool exchange(const ChatSocket& s, Random& rng, int& next) {
    while (next < kMessagesPerChatter) {
      sim_.sleep_for(rng.exponential(20s));
      const int burst = std::min(static_cast<int>(rng.uniform_int(1, 3)), kMessagesPerChatter - next);
      for (int k = 0; k < burst; ++k) s.ws->send(fmt::format("c{}m{}", s.chatter, next + k));
      for (int k = 0; k < burst; ++k) {
        WebSocketEvent e = s.ws->receive();
        if (e.is_close()) {
          ++sockets_dropped_;
          check_close(s, e);
          return false;
        }
        const std::string want = fmt::format("echo:c{}m{}", s.chatter, next);
        if (e.data != want) violation(fmt::format("chatter-{} expected '{}' and got '{}'", s.chatter, want, e.data));
        ++echoes_;
        ++next;
      }
    }
    return true;
  }

  // The chatter closes; the next event must be the close coming back.
  void say_goodbye(const ChatSocket& s) {
    s.ws->close(kWsNormalClosure);
    WebSocketEvent e = s.ws->receive();
    if (!e.is_close()) violation(fmt::format("chatter-{} got '{}' after closing", s.chatter, e.data));
    else check_close(s, e);
  }

  // A close the client sees must be 1000 (the SDK rewrites 1005/1006) unless the Durable Object
  // relaying the socket was itself reset while it was open (its incarnation moved on): then nobody
  // is left to rewrite it (1006). Read from the object, not from the plan: knobs and failed commits
  // reset objects too.
  void check_close(const ChatSocket& s, const WebSocketEvent& e) {
    ++close_codes_[e.code];
    if (e.code == kWsNormalClosure) return;
    if (e.code == kWsAbnormalClosure && incarnation(s.shop) != s.opened_incarnation) return;
    violation(fmt::format("chatter-{} saw close code {} ('{}') with no reset of shop-{}'s Durable Object since the socket opened at {}",
                          s.chatter, e.code, e.reason, s.shop, format_time(s.opened)));
  }

  uint64_t incarnation(int shop) {
    DurableObjectNamespace& ns = world_.durable_object("SHOP");
    ObjectHost* h = ns.find_host(ns.id_from_name(fmt::format("shop-{}", shop)));
    return h ? h->incarnation() : 0;
  }

  // At the end, once every client is done: every acknowledged order is still there, charged, and
  // in the ledger.
  void check_orders() {
    for (const Order& order : acked_) {
      Response r = fetch_retrying_5xx(world_, make_request("GET", "/order/" + order.id, order.shop));
      if (r.status != 200 || r.body != order.amount) {
        ++lost_;
        violation(fmt::format("order {} (shop-{}) was acknowledged but reads back {} '{}'", order.id, order.shop, r.status, r.body));
      }
      if (charged_.count(order.id) == 0) violation(fmt::format("order {} was acknowledged but never charged", order.id));
      // The ledger is read where it lives, as a test reads the real database: a read through the
      // container would meet the network faults the run injected (a lossy link stays lossy), and
      // what is checked is the data, not the path.
      const std::optional<std::string> in_ledger = world_.net().database_get(kLedger, "order:" + order.id);
      if (in_ledger != order.amount)
        violation(fmt::format("order {} was acknowledged but the ledger holds {}", order.id, in_ledger.value_or("nothing")));
    }
  }

  // The verdict (every violation was recorded as it was found), the closing record, the report.
  void judge() {
    if (!violations_.empty()) fail(result_, fmt::format("{} violation(s); first: {}", violations_.size(), violations_.front()));
    std::string codes;
    for (const auto& [code, n] : close_codes_) codes += fmt::format("{}{} x{}", codes.empty() ? "" : ", ", code, n);
    sim_.record("check", "mix", {{"orders_acked", acked_.size()}, {"orders_lost", lost_}, {"reports_whole", reports_whole_},
                                 {"reports_broken", reports_broken_}, {"echoes", echoes_}, {"sockets_dropped", sockets_dropped_}});
    result_.report.push_back(fmt::format("{} orders acknowledged, {} failed, {} lost", acked_.size(), orders_failed_, lost_));
    result_.report.push_back(fmt::format("{} reports arrived whole, {} were cut by a stop and failed loudly, {} refused", reports_whole_,
                                         reports_broken_, reports_refused_));
    result_.report.push_back(fmt::format("{} WebSocket echoes; {} sockets closed under their clients, {} upgrades refused; close codes: {}",
                                         echoes_, sockets_dropped_, upgrades_refused_, codes.empty() ? "none" : codes));
  }

  World world_;
  Simulator& sim_;
  std::set<std::string> charged_;  // what the payments API saw
  ScenarioResult result_;
  std::vector<std::string> violations_;
  std::vector<FiberHandle> clients_;
  std::vector<Order> acked_;  // orders acknowledged to a buyer
  int orders_failed_ = 0, lost_ = 0;
  const std::string report_ = expected_report();
  int reports_whole_ = 0, reports_broken_ = 0, reports_refused_ = 0;
  int echoes_ = 0, sockets_dropped_ = 0, upgrades_refused_ = 0;
  std::map<int, int> close_codes_;  // as the clients saw them
};

ScenarioResult run_mix(const Scenario& self, const ScenarioOptions& o) { return MixRun(self, o).run(o); }

FaultSpace mix_faults() {
  std::vector<std::string> shops;
  for (int s = 0; s < kShops; ++s) shops.push_back(fmt::format("SHOP/shop-{}", s));
  // Every drawable verb and knob of the platform over the shops and both services.
  return World::fault_space({.objects = shops, .services = {std::string(kPayments), std::string(kLedger)}},
                            Duration::seconds(20 * 60), 8);
}

}  // namespace

Scenario platform_mix_scenario() {
  Scenario s;
  s.name = "platform-mix";
  s.description = "Orders, streamed reports and WebSocket echoes through one Worker under container, DO and network faults.";
  s.fault_space = mix_faults();
  s.run = [s](const ScenarioOptions& o) { return run_mix(s, o); };
  return s;
}

}  // namespace cfsim
