// Process::connect_db (§7.2): a database connection follows the instance's egress policy and dies
// with the process. The app and world: raw_runtime_fixture.h.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §7.2: /containers/configuration/outbound-traffic/ (A9)
#include <gtest/gtest.h>

#include "raw_runtime_fixture.h"

using namespace std::chrono_literals;

namespace cfsim::raw_runtime_test {
namespace {

// --- Process::connect_db (§7.2: the instance's egress policy; the connection dies with the process) ----------

TEST(ProcessDb, ConnectDbFollowsInternetAndClosesWhenTheProcessStops_S7_2) {
  World w;
  w.net.add_database("db.internal", 4);
  ContainerRuntime& on = w.rt("on");
  ContainerRuntime& off = w.rt("off");
  w.sim.call_at(Time::zero(), [&] {
    on.start(ContainerStartOptions{.enable_internet = true});
    off.start(ContainerStartOptions{.enable_internet = false});
  });
  w.run_until(at(3s));  // both booted
  ASSERT_NE(on.process(), nullptr);
  ASSERT_NE(off.process(), nullptr);
  std::optional<DbConnection> conn;
  std::string set_reply, get_reply, off_error = "<none>";
  Process* p_on = on.process();
  p_on->spawn("db", [&, p_on] {
    conn.emplace(p_on->connect_db("db.internal"));
    set_reply = conn->query("SET k hello");
    get_reply = conn->query("GET k");
  });
  Process* p_off = off.process();
  p_off->spawn("db", [&, p_off] {
    try {
      p_off->connect_db("db.internal");
    } catch (const NetError& e) {
      off_error = to_string(e.kind());
    }
  });
  w.run_until(at(10s));
  EXPECT_EQ(set_reply, "OK");
  EXPECT_EQ(get_reply, "hello");
  EXPECT_EQ(off_error, to_string(NetError::Kind::denied)) << "internet off: everything but DNS is denied (§7.2)";
  ASSERT_TRUE(conn.has_value());
  EXPECT_TRUE(conn->open());
  EXPECT_EQ(w.net.open_connections("db.internal"), 1);
  w.sim.call_at(at(11s), [&] { on.destroy(); });
  w.run_until(at(12s));
  EXPECT_FALSE(conn->open()) << "closed when the process stops";
  EXPECT_EQ(w.net.open_connections("db.internal"), 0);
  std::string after = "<none>";
  w.sim.spawn("late", [&] {
    try {
      conn->query("GET k");
    } catch (const NetError& e) {
      after = to_string(e.kind());
    }
  });
  w.run_until(at(13s));
  EXPECT_EQ(after, to_string(NetError::Kind::reset));
}

}  // namespace
}  // namespace cfsim::raw_runtime_test
