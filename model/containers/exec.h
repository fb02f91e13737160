#pragma once
// ctx.container.exec(cmd, opts) (platform-facts.md §1.2, A7): a program of the image run inside the
// running container, as a fiber of its process. Fault model: a program ends with the container
// (exit 137, killed with it) and never crashes the container (a throw out of a program is its exit
// 1); kill() ends it with 128 + signo. Nothing else fails.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/containers/signals.h"
#include "sim/sync.h"

namespace cfsim {

class Process;
class ContainerRuntime;

// exec(cmd) runs a program of the image inside the running container. There
// is no shell: cmd is an argv vector, and cmd[0] must equal the name of one of the image's
// `programs` exactly (no PATH search, no globbing, no quoting).

// exec()'s options (A7): the program's environment and working directory, and its stdin.
struct ExecOptions {
  std::map<std::string, std::string> env;  // layered over the process's environment
  std::string cwd = "/";
  std::string stdin_data;                  // what the program reads; then end of file
};

// What output() returns once the program has exited.
struct ExecOutput {
  std::string stdout_data;
  std::string stderr_data;
  int exit_code = 0;
};

// The program's side of an exec: argv, env, cwd, stdin, stdout and stderr.
class ExecContext {
 public:
  const std::vector<std::string>& argv() const { return argv_; }
  const std::map<std::string, std::string>& env() const { return env_; }
  const std::string& cwd() const { return cwd_; }
  uint64_t pid() const { return pid_; }
  std::string read_stdin();  // everything not read yet ("" at end of file)
  void write_stdout(std::string_view s) { stdout_ += s; }
  void write_stderr(std::string_view s) { stderr_ += s; }

 private:
  friend class ContainerRuntime;
  friend class ExecProcess;
  uint64_t pid_ = 0;
  std::vector<std::string> argv_;
  std::map<std::string, std::string> env_;
  std::string cwd_, stdin_, stdout_, stderr_;
};

// A program of an image. It runs as a fiber of the container's process (it may sleep, use
// process.fs(), fetch, ...) and returns its exit code (0..255; another value ends it with 1 and a
// message on stderr). A throw out of it ends the program with exit 1 and what() on stderr; the
// container keeps running. Programs install no signal handlers (see ExecProcess::kill).
using ExecProgram = std::function<int(Process&, const std::vector<std::string>& argv, ExecContext&)>;

// What exec() returns (A7 ExecProcess). Copies share the one program run.
class ExecProcess {
 public:
  uint64_t pid() const;
  bool exited() const;
  // Blocks the calling fiber until the program exits and returns its code. Resolves for every
  // code, never throws for a non-zero one (A7: exitCode never rejects).
  int exit_code();
  Future<int> exit_code_future() const;
  // Blocks until the program exits; then its stdout, stderr and exit code. Single use (A7): a
  // second call throws ContainerError.
  ExecOutput output();
  // kill(sig = SIGTERM) (A7): std::out_of_range (RangeError) unless 1 <= signo <= 64. Delivered
  // one hop later, like signal(); a no-op once the program has exited. A program has no handlers:
  // SIGCHLD/SIGCONT/SIGURG/SIGWINCH are ignored, any other signal ends it with 128 + signo.
  void kill(int signo = kSigTerm);

  struct State;  // shared with the runtime (model/containers/exec_state.h)

 private:
  friend class ContainerRuntime;
  explicit ExecProcess(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::shared_ptr<State> s_;
};

}  // namespace cfsim
