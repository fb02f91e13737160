// exec() on the raw runtime (platform-facts §1.2, A7): image programs run with argv and no shell,
// exitCode resolves for non-zero codes, output() is single use, no built-in timeout, and programs
// die with the container. The app and world: raw_runtime_fixture.h.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §1.2 exec: /containers/api/durable-object-container/ (A7)
#include <gtest/gtest.h>

#include "raw_runtime_fixture.h"

using namespace std::chrono_literals;

namespace cfsim::raw_runtime_test {
namespace {

// --- exec (§1.2: no shell, exitCode resolves for non-zero codes, output() single use) -------------------

TEST(Exec, RunsImageProgramsWithArgvNoShell_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  w.start_raw("x", Time::zero());
  std::optional<ExecProcess> early, literal, whole, piped, env;
  ExecOutput early_out, literal_out, whole_out, piped_out, env_out;
  w.sim.call_at(at(1s), [&] {  // during the cold start: runs once main does, at 2 s
    early = rt.exec({"echo", "hi", "there"});
  });
  w.sim.call_at(at(5s), [&] {
    literal = rt.exec({"echo", "a;b", "$HOME", "*"});  // no shell: passed as they are
    whole = rt.exec({"echo hi"});                     // one argv item: no program of that name
    ExecOptions o;
    o.stdin_data = "from stdin";
    piped = rt.exec({"cat"}, o);
    ExecOptions e;
    e.env = {{"GREETING", "hola"}};
    e.cwd = "/srv";
    env = rt.exec({"printenv", "GREETING"}, e);
  });
  w.sim.spawn("waiter", [&] {
    w.sim.sleep_until(at(6s));
    early_out = early->output();
    literal_out = literal->output();
    whole_out = whole->output();
    piped_out = piped->output();
    env_out = env->output();
  });
  w.run_until(at(10s));
  EXPECT_EQ(early_out.stdout_data, "hi there\n");
  EXPECT_EQ(early_out.exit_code, 0);
  ASSERT_EQ(w.times("container", "exec_start", "pid", "2").size(), 1u);
  EXPECT_EQ(w.times("container", "exec_start", "pid", "2")[0], at(2s)) << "an exec during the cold start runs when main does";
  EXPECT_EQ(literal_out.stdout_data, "a;b $HOME *\n");
  EXPECT_EQ(whole_out.exit_code, 127) << "'echo hi' is one program name, not split by a shell";
  EXPECT_EQ(whole_out.stderr_data, "exec: \"echo hi\": executable file not found in $PATH\n");
  EXPECT_EQ(piped_out.stdout_data, "from stdin");
  EXPECT_EQ(env_out.stdout_data, "hola|/srv\n");
  EXPECT_TRUE(rt.running()) << "exec never disturbs the container";
}

TEST(Exec, ExitCodeResolvesForNonZeroAndOutputIsSingleUse_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  w.start_raw("x", Time::zero());
  int fail_code = -1, boom_code = -1, bad_code = -1, missing_code = -1;
  std::string boom_err, missing_file_err, second_output_error;
  w.sim.spawn("do", [&] {
    w.sim.sleep_until(at(3s));
    ExecProcess f = rt.exec({"false"});
    fail_code = f.exit_code();  // resolves with 3, does not throw (A7)
    EXPECT_EQ(f.exit_code(), 3) << "exit_code() may be awaited again";
    ExecOutput o = f.output();
    EXPECT_EQ(o.stderr_data, "failing on purpose\n");
    try {
      f.output();
    } catch (const ContainerError& e) {
      second_output_error = e.what();
    }
    ExecProcess b = rt.exec({"boom"});
    ExecOutput bo = b.output();
    boom_code = bo.exit_code;
    boom_err = bo.stderr_data;
    bad_code = rt.exec({"bad-code"}).exit_code();
    ExecProcess m = rt.exec({"cat", "/no/such/file"});
    missing_code = m.exit_code();
    missing_file_err = m.output().stderr_data;
  });
  w.run_until(at(10s));
  EXPECT_EQ(fail_code, 3);
  EXPECT_EQ(second_output_error, "exec: output() can only be called once (pid 2)");
  EXPECT_EQ(boom_code, 1) << "a throw out of a program is its exit 1";
  EXPECT_EQ(boom_err, "segfault, more or less\n");
  EXPECT_EQ(bad_code, 1) << "an exit code outside 0..255 is reported as 1";
  EXPECT_EQ(missing_code, 1);
  EXPECT_EQ(missing_file_err, "cat: /no/such/file: No such file or directory\n");
  EXPECT_TRUE(rt.running()) << "a failing program does not crash the container";
  EXPECT_EQ(rt.start_count(), 1u);
}

TEST(Exec, OnlyOnARunningContainerWithCheckedArguments_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  EXPECT_THROW(rt.exec({"echo"}), ContainerError) << "not running";
  w.start_raw("x", Time::zero());
  w.run_until(at(3s));
  EXPECT_THROW(rt.exec({}), std::invalid_argument);
  ExecOptions bad;
  bad.env = {{"A=B", "x"}};
  EXPECT_THROW(rt.exec({"echo"}, bad), std::invalid_argument);
  ExecProcess p = rt.exec({"sleep", "100"});
  EXPECT_THROW(p.kill(0), std::out_of_range);
  EXPECT_THROW(p.kill(65), std::out_of_range);
  w.run_until(at(4s));
  EXPECT_FALSE(p.exited());
}

TEST(Exec, NoBuiltInTimeoutKillSignalsAndProgramsDieWithTheContainer_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  w.start_raw("x", Time::zero());
  std::optional<ExecProcess> long_one, killed, ignored, doomed;
  w.sim.call_at(at(3s), [&] {
    long_one = rt.exec({"sleep", "3600"});  // an hour: no built-in timeout stops it
    killed = rt.exec({"sleep", "3600"});
    ignored = rt.exec({"sleep", "20"});
  });
  w.sim.call_at(at(10s), [&] {
    killed->kill();  // default SIGTERM: 143
    ignored->kill(kSigChld);  // ignored by default: runs on
  });
  w.run_until(at(3s + 3600s + 1s));
  EXPECT_TRUE(long_one->exited());
  EXPECT_EQ(long_one->exit_code_future().get(), 0);
  ASSERT_EQ(w.times("container", "exec_exit", "pid", "2").size(), 1u);
  EXPECT_EQ(w.times("container", "exec_exit", "pid", "2")[0], at(3603s));
  EXPECT_EQ(killed->exit_code_future().get(), 128 + kSigTerm);
  EXPECT_EQ(w.times("container", "exec_exit", "pid", "3")[0], at(10s));
  EXPECT_EQ(ignored->exit_code_future().get(), 0);
  EXPECT_EQ(w.times("container", "exec_exit", "pid", "4")[0], at(23s)) << "SIGCHLD ignored: it ran its 20 s";
  killed->kill();  // a no-op once exited
  // A program running when the container stops ends with it: 128 + SIGKILL.
  w.sim.call_at(at(4000s), [&] { doomed = rt.exec({"sleep", "100"}); });
  w.sim.call_at(at(4010s), [&] { rt.destroy(); });
  w.run_until(at(4100s));
  EXPECT_EQ(doomed->exit_code_future().get(), 137);
  ASSERT_EQ(w.records("container", "exec_exit", "cause", "container-stopped").size(), 1u);
  EXPECT_EQ(w.records("container", "exec_exit", "cause", "container-stopped")[0].time, at(4010s));
}

TEST(Exec, AProgramDoesNotKeepMainAlive_S1_2) {
  World w;
  ContainerRuntime& rt = w.rt("x");
  std::optional<ExecProcess> p;
  w.sim.call_at(Time::zero(), [&] {
    ContainerStartOptions o;
    o.env["MAIN_RETURNS"] = "1";
    rt.start(o);
    p = rt.exec({"sleep", "100"});  // delivered during the cold start
  });
  w.run_until(at(10s));
  EXPECT_FALSE(rt.running()) << "main returned with nothing to serve: the container exits 0 at once";
  EXPECT_EQ(rt.last_exit()->exit_code, 0);
  EXPECT_EQ(p->exit_code_future().get(), 137) << "the exec'd program dies with the container";
}

}  // namespace
}  // namespace cfsim::raw_runtime_test
