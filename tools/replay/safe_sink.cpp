#include "tools/replay/safe_sink.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <nlohmann/json.hpp>

#include "sim/scheduler.h"
#include "sim/trace_file.h"
#include "tools/replay/build_info.h"
#include "tools/replay/cli_common.h"

// Under AddressSanitizer a bad access is reported and the process exits (code 1) instead of dying
// by a signal; a death callback saves the trace then.
#if defined(__SANITIZE_ADDRESS__)
#define CFSIM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CFSIM_SANITIZED 1
#endif
#endif
#ifdef CFSIM_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

namespace cfsim::cli {

namespace {

// Sinks the fatal-signal handler flushes. A handful is plenty: one run writes one trace.
constexpr int kMaxSinks = 8;
std::atomic<SafeJsonlSink*> g_sinks[kMaxSinks];

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
struct sigaction g_previous[NSIG];

bool write_all(int fd, const char* p, size_t n) noexcept {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// What to print if a sanitizer ends the process (set by `cfsim run`: the crash report with the replay
// command, which the parent cannot print since it sees an ordinary exit).
std::atomic<const std::string*> g_crash_report{nullptr};

#ifdef CFSIM_SANITIZED
void on_sanitizer_death() {
  for (auto& slot : g_sinks)
    if (SafeJsonlSink* s = slot.exchange(nullptr)) s->emergency_flush();
  if (const std::string* report = g_crash_report.exchange(nullptr)) write_all(STDOUT_FILENO, report->data(), report->size());
}
#endif

void on_fatal_signal(int sig, siginfo_t* info, void*) {
  for (auto& slot : g_sinks)
    if (SafeJsonlSink* s = slot.exchange(nullptr)) s->emergency_flush();
  // Hand the signal to whoever had it before (the default action, or a sanitizer's report). A fault
  // raised by an instruction recurs when we return; one sent by raise()/abort() is sent again.
  sigaction(sig, &g_previous[sig], nullptr);
  if (info == nullptr || info->si_code <= 0) raise(sig);
}

void install_handlers_once() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  // An alternate stack, so that a stack overflow (a fiber hitting its guard page) still runs the
  // handler. Keep one that is already there (a sanitizer's).
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
    static char alt_stack[1 << 16];
    stack_t ss{};
    ss.ss_sp = alt_stack;
    ss.ss_size = sizeof alt_stack;
    sigaltstack(&ss, nullptr);
  }
  for (int sig : kFatalSignals) {
    struct sigaction sa {};
    sa.sa_sigaction = on_fatal_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, &g_previous[sig]);
  }
#ifdef CFSIM_SANITIZED
  __sanitizer_set_death_callback(on_sanitizer_death);
#endif
}

}  // namespace

SafeJsonlSink::SafeJsonlSink(std::string path, bool defer_rename)
    : path_(std::move(path)), tmp_(fmt::format("{}.{}.tmp", path_, ::getpid())), defer_rename_(defer_rename),
      buf_(new char[kBufferBytes]) {
  prepare_output_file(path_);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw UsageError(fmt::format("cannot create trace file '{}': {}", tmp_, std::strerror(errno)));
  install_handlers_once();
  for (auto& slot : g_sinks) {
    SafeJsonlSink* expected = nullptr;
    if (slot.compare_exchange_strong(expected, this)) break;
  }
}

SafeJsonlSink::~SafeJsonlSink() {
  finish(nullptr);
  if (!closed_ || !defer_rename_) return;
  // Closed but neither committed nor discarded: keep it (a failing path that forgot is safer kept).
  commit();
}

void SafeJsonlSink::append(const std::string& bytes) {
  if (fd_ < 0) return;
  size_t used = used_.load(std::memory_order_relaxed);
  if (used + bytes.size() > kBufferBytes) {
    flush_buffer();
    used = 0;
  }
  if (bytes.size() > kBufferBytes) {  // a record larger than the buffer goes straight out
    write_all(fd_, bytes.data(), bytes.size());
    return;
  }
  std::memcpy(buf_.get() + used, bytes.data(), bytes.size());
  // Publish the new length only once the whole line is in place: the handler writes [0, used_).
  std::atomic_signal_fence(std::memory_order_release);
  used_.store(used + bytes.size(), std::memory_order_relaxed);
}

void SafeJsonlSink::flush_buffer() {
  size_t used = used_.load(std::memory_order_relaxed);
  if (used == 0 || fd_ < 0) return;
  write_all(fd_, buf_.get(), used);
  used_.store(0, std::memory_order_relaxed);
}

void SafeJsonlSink::write(const Record& r) {
  std::string line = r.index == 0 ? record_to_json(r, this_build()) : record_to_json(r);  // the build: unhashed
  line += '\n';
  append(line);
  // The header goes to the file at once: a run killed by SIGKILL (no handler runs) before the first
  // buffer is full still leaves a trace that names its run.
  if (records_ == 0) flush_buffer();
  ++records_;
}

void SafeJsonlSink::close(uint64_t hash, uint64_t records) {
  nlohmann::ordered_json footer;
  footer["end"] = {{"hash", hash_hex(hash)}, {"records", records}};
  std::string line = footer.dump() + "\n";
  finish(&line);
}

void SafeJsonlSink::finish(const std::string* footer) {
  if (fd_ < 0) return;
  for (auto& slot : g_sinks) {
    SafeJsonlSink* expected = this;
    slot.compare_exchange_strong(expected, nullptr);
  }
  if (footer) append(*footer);
  flush_buffer();
  ::close(fd_);
  fd_ = -1;
  closed_ = true;
  if (!defer_rename_ || !footer) std::rename(tmp_.c_str(), path_.c_str());
}

void SafeJsonlSink::commit() {
  if (fd_ >= 0 || !defer_rename_) return;
  std::rename(tmp_.c_str(), path_.c_str());
  defer_rename_ = false;
}

void SafeJsonlSink::discard() {
  if (fd_ >= 0) {
    for (auto& slot : g_sinks) {
      SafeJsonlSink* expected = this;
      slot.compare_exchange_strong(expected, nullptr);
    }
    ::close(fd_);
    fd_ = -1;
  }
  std::remove(tmp_.c_str());
  defer_rename_ = false;
  closed_ = false;
}

void SafeJsonlSink::emergency_flush() noexcept {
  if (fd_ < 0) return;
  size_t used = used_.load(std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_acquire);
  write_all(fd_, buf_.get(), used);
  ::close(fd_);
  fd_ = -1;
  ::rename(tmp_.c_str(), path_.c_str());
}

void set_sanitizer_crash_report(std::string text) {
  static std::string report;  // lives as long as the process; set once per run
  g_crash_report.store(nullptr);
  report = std::move(text);
#ifdef CFSIM_SANITIZED
  if (!report.empty()) g_crash_report.store(&report);
#endif
}

// --- the test hook ----------------------------------------------------------------------------------

namespace {
enum class TestCrash { abort, segv, raise, hang };

class CrashAtRecordSink : public TraceSink {
 public:
  CrashAtRecordSink(uint64_t at, TestCrash how) : at_(at), how_(how) {}
  void write(const Record& r) override {
    if (how_ == TestCrash::raise) return maybe_throw(r);
    if (r.index != at_) return;
    if (how_ == TestCrash::abort) std::abort();
    if (how_ == TestCrash::hang) hang();
    // A wild write, as a bug in simulated code would make: SIGSEGV from the faulting instruction.
    // (Not through a null pointer, which UBSan would report before the write.)
    volatile int* volatile nowhere = reinterpret_cast<volatile int*>(uintptr_t{64});
    *nowhere = 1;
  }

 private:
  // An exception out of the kernel's loop, as a scenario's callback or fault handler might throw: a
  // callback, due at once, scheduled at the first record from `at_` on made while the kernel runs.
  // (Thrown from here, inside the trace's record(), it would cut that record in half.)
  void maybe_throw(const Record& r) {
    if (armed_ || r.index < at_) return;
    try {
      Simulator::active().call_after(Duration::zero(), [index = r.index] {
        throw std::runtime_error(fmt::format("CFSIM_TEST_CRASH: a test exception after record #{}", index));
      });
      armed_ = true;
    } catch (const SimError&) {
      // Not inside run() yet (the header, the world being built): try again at the next record.
    }
  }
  // Waits to be killed (kill -9 from a test); aborts after two minutes so that a test cannot hang.
  [[noreturn]] static void hang() {
    for (int i = 0; i < 1200; ++i) ::usleep(100 * 1000);
    std::abort();
  }

  uint64_t at_;
  TestCrash how_;
  bool armed_ = false;
};
}  // namespace

std::shared_ptr<TraceSink> test_crash_sink_for(uint64_t seed) {
  const char* spec = std::getenv("CFSIM_TEST_CRASH");
  if (!spec) return nullptr;
  std::string_view s(spec);
  size_t colon = s.find(':');
  if (colon == std::string_view::npos)
    throw UsageError("CFSIM_TEST_CRASH must be SEED:RECORD or SEED:RECORD:segv|throw|hang");
  if (parse_u64(s.substr(0, colon), "CFSIM_TEST_CRASH seed") != seed) return nullptr;
  std::string_view rest = s.substr(colon + 1);
  TestCrash how = TestCrash::abort;
  if (size_t c = rest.find(':'); c != std::string_view::npos) {
    std::string_view mode = rest.substr(c + 1);
    rest = rest.substr(0, c);
    if (mode == "segv") how = TestCrash::segv;
    else if (mode == "throw") how = TestCrash::raise;
    else if (mode == "hang") how = TestCrash::hang;
    else throw UsageError(fmt::format("CFSIM_TEST_CRASH: unknown mode '{}' (segv, throw or hang)", mode));
  }
  return std::make_shared<CrashAtRecordSink>(parse_u64(rest, "CFSIM_TEST_CRASH record"), how);
}

// --- what a killed child left ------------------------------------------------------------------------

namespace {
// The length of `fd`'s contents up to and including its last newline (0 if it has none).
off_t whole_lines_length(int fd) {
  off_t end = ::lseek(fd, 0, SEEK_END);
  char buf[1 << 16];
  while (end > 0) {
    off_t from = end > static_cast<off_t>(sizeof buf) ? end - static_cast<off_t>(sizeof buf) : 0;
    ssize_t got = ::pread(fd, buf, static_cast<size_t>(end - from), from);
    if (got <= 0) return 0;
    for (ssize_t i = got; i-- > 0;)
      if (buf[i] == '\n') return from + i + 1;
    end = from;
  }
  return 0;
}
}  // namespace

bool salvage_trace(const std::string& path, pid_t pid) {
  const std::string tmp = fmt::format("{}.{}.tmp", path, pid);
  int fd = ::open(tmp.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return ::access(path.c_str(), F_OK) == 0;
  off_t keep = whole_lines_length(fd);
  bool ok = keep > 0 && ::ftruncate(fd, keep) == 0;
  ::close(fd);
  if (ok) ok = std::rename(tmp.c_str(), path.c_str()) == 0;
  else std::remove(tmp.c_str());  // not one whole line: nothing a reader could use
  return ok || ::access(path.c_str(), F_OK) == 0;
}

// --- child processes ---------------------------------------------------------------------------------

std::string ChildStatus::describe() const {
  if (!signaled) return fmt::format("exit code {}", exit_code);
  const char* name = strsignal(signal);
  return fmt::format("signal {} ({})", signal, name ? name : "unknown");
}

ChildStatus wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ChildStatus{false, 127, 0};
  }
  ChildStatus cs;
  cs.pid = pid;
  if (WIFSIGNALED(status)) {
    cs.signaled = true;
    cs.signal = WTERMSIG(status);
  } else {
    cs.exit_code = WEXITSTATUS(status);
  }
  return cs;
}

namespace {
void flush_all() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
}

[[noreturn]] void child_exit(int code) {
  flush_all();
  std::exit(code);
}
}  // namespace

ChildStatus run_in_child(const std::function<int()>& body) {
  flush_all();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork failed: {}", std::strerror(errno)));
  if (pid == 0) child_exit(body());
  return wait_child(pid);
}

Child spawn_child(const std::function<int()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(fmt::format("pipe failed: {}", std::strerror(errno)));
  flush_all();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork failed: {}", std::strerror(errno)));
  if (pid == 0) {
    ::close(fds[0]);
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[1]);
    child_exit(body());
  }
  ::close(fds[1]);
  return Child{pid, fds[0]};
}

}  // namespace cfsim::cli
