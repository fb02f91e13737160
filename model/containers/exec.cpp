#include "model/containers/exec.h"

#include <fmt/format.h>

#include "model/containers/runtime.h"
#include "model/containers/runtime_detail.h"
#include "sim/assert.h"

namespace cfsim {

namespace {

std::string join_args(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& a : v) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

}  // namespace

// --- exec (§1.2) ------------------------------------------------------------------------------------------


std::string ExecContext::read_stdin() {
  std::string out = std::move(stdin_);
  stdin_.clear();
  return out;
}

uint64_t ExecProcess::pid() const { return s_->ctx.pid_; }
bool ExecProcess::exited() const { return s_->done; }
Future<int> ExecProcess::exit_code_future() const { return s_->exited.future(); }
int ExecProcess::exit_code() { return s_->exited.future().get(); }

ExecOutput ExecProcess::output() {
  if (s_->output_taken)
    throw ContainerError(fmt::format("exec: output() can only be called once (pid {})", s_->ctx.pid_));
  s_->output_taken = true;
  const int code = exit_code();
  return ExecOutput{s_->ctx.stdout_, s_->ctx.stderr_, code};
}

void ExecProcess::kill(int signo) {
  if (signo < 1 || signo > 64)
    throw std::out_of_range(fmt::format("RangeError: signal number must be between 1 and 64 (got {})", signo));
  if (s_->done || s_->alive.expired()) return;
  std::shared_ptr<State> st = s_;
  st->rt->sim_.call_after(st->rt->platform_.options().hop_latency, [st, signo] {
    if (!st->alive.expired()) st->rt->deliver_exec_signal(st, signo);
  });
}

ExecProcess ContainerRuntime::exec(std::vector<std::string> cmd, ExecOptions options) {
  if (!running_) throw ContainerError("exec() cannot be called on a container that is not running.");
  if (cmd.empty()) throw std::invalid_argument(fmt::format("exec: cmd must name a program (got an empty array) (container {})", label_));
  detail::check_env(options.env, "exec: ");
  const uint64_t pid = ++next_pid_;
  auto st = std::make_shared<ExecProcess::State>(sim_, *this, alive_, fmt::format("exec {} pid {}", label_, pid));
  st->ctx.pid_ = pid;
  st->ctx.argv_ = std::move(cmd);
  st->ctx.cwd_ = std::move(options.cwd);
  st->ctx.stdin_ = std::move(options.stdin_data);
  st->env = std::move(options.env);
  execs_[pid] = st;
  sim_.record("container", "exec", {{"container", label_}, {"pid", pid}, {"cmd", join_args(st->ctx.argv_)}});
  std::weak_ptr<int> token = alive_;
  sim_.call_after(platform_.options_.hop_latency, [this, token, st] {
    if (token.expired() || st->done) return;  // the run ended first: finished with 137 already
    st->delivered = true;
    if (process_) launch_exec(st);  // else boot() launches it once main runs
  });
  return ExecProcess(st);
}

void ContainerRuntime::launch_exec(const std::shared_ptr<ExecProcess::State>& st) {
  CFSIM_ASSERT(process_ && st->delivered && !st->fiber && !st->done);  // once, on the live process
  const ContainerImage& image = platform_.config(ns_name_).images.at(image_version_);
  st->ctx.env_ = process_->env_;
  for (const auto& [k, v] : st->env) st->ctx.env_[k] = v;
  const std::string& program = st->ctx.argv_[0];
  auto it = image.programs.find(program);
  sim_.record("container", "exec_start",
              {{"container", label_}, {"pid", st->ctx.pid_}, {"program", program}, {"found", it != image.programs.end()}});
  if (it == image.programs.end()) {
    st->ctx.stderr_ += fmt::format("exec: \"{}\": executable file not found in $PATH\n", program);
    finish_exec(st, 127, "not-found");
    return;
  }
  ExecProgram prog = it->second;
  std::shared_ptr<Process> proc = process_;
  std::weak_ptr<int> token = alive_;
  st->fiber = sim_.spawn(fmt::format("ct:{}#exec{}:{}", label_, st->ctx.pid_, program), [this, token, st, prog, proc] {
    int code = 0;
    const char* cause = "exit";
    try {
      code = prog(*proc, st->ctx.argv_, st->ctx);
      if (code < 0 || code > 255) {
        st->ctx.stderr_ += fmt::format("exec: program returned exit code {} (must be 0..255)\n", code);
        code = 1;
        cause = "bad-exit-code";
      }
    } catch (const FiberKilled&) {
      throw;  // killed by a signal or with the container: already settled
    } catch (const std::exception& e) {
      st->ctx.stderr_ += std::string(e.what()) + "\n";
      code = 1;
      cause = "threw";
    } catch (...) {
      st->ctx.stderr_ += "exception not derived from std::exception\n";
      code = 1;
      cause = "threw";
    }
    if (!token.expired()) finish_exec(st, code, cause);
  });
}

void ContainerRuntime::finish_exec(const std::shared_ptr<ExecProcess::State>& st, int exit_code, const char* cause) {
  if (st->done) return;
  st->done = true;
  execs_.erase(st->ctx.pid_);
  sim_.record("container", "exec_exit",
              {{"container", label_}, {"pid", st->ctx.pid_}, {"exit_code", exit_code}, {"cause", cause},
               {"stdout_bytes", static_cast<int64_t>(st->ctx.stdout_.size())},
               {"stderr_bytes", static_cast<int64_t>(st->ctx.stderr_.size())}});
  st->exited.set_value(exit_code);
}

void ContainerRuntime::deliver_exec_signal(const std::shared_ptr<ExecProcess::State>& st, int signo) {
  if (st->done) return;
  const bool ignored = ignored_by_default(signo);
  sim_.record("container", "exec_signal", {{"container", label_}, {"pid", st->ctx.pid_}, {"signo", signo}, {"ignored", ignored}});
  if (ignored) return;
  FiberHandle f = st->fiber;
  finish_exec(st, 128 + signo, "signal");
  if (f && !f.done()) sim_.kill(f);  // from the scheduler: never the calling fiber
}

}  // namespace cfsim
