#pragma once
// Trace files that survive a crash, and running a piece of work in a child process.
//
// SafeJsonlSink writes the same JSON-lines format as sim's JsonlSink (record_to_json per line, the
// header line with this binary's build (build_info.h), then the footer), to "<path>.<pid>.tmp", renamed into place when the run closes the trace. It differs
// in one way: the bytes not yet written sit in a fixed buffer whose committed length only grows by
// whole lines, and a handler for fatal signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT), running
// on its own stack so that a fiber stack overflow reaches it, writes that buffer with write(2) and
// renames the file into place (both async-signal-safe) before passing the signal on to whoever
// handled it before (the default action, or AddressSanitizer's report). So a run that crashes
// leaves a trace of every record up to the crash: whole lines, no footer.
//
// With `defer_rename`, close() leaves the finished file under its temporary name until commit()
// (keep it) or discard() (delete it): `cfsim run` uses this to keep a default-location trace only
// when the run fails. A crash or a destruction without close() always keeps the trace.

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "sim/trace.h"

namespace cfsim::cli {

class SafeJsonlSink : public TraceSink {
 public:
  // Throws UsageError if the temporary file cannot be created.
  explicit SafeJsonlSink(std::string path, bool defer_rename = false);
  ~SafeJsonlSink() override;
  SafeJsonlSink(const SafeJsonlSink&) = delete;
  SafeJsonlSink& operator=(const SafeJsonlSink&) = delete;

  void write(const Record& r) override;
  void close(uint64_t hash, uint64_t records) override;
  void commit();   // with defer_rename: move the closed file into place
  void discard();  // with defer_rename: delete the temporary file
  const std::string& path() const { return path_; }
  uint64_t records_written() const { return records_; }

  // Called from the fatal-signal handler: write what is buffered and rename. Async-signal-safe.
  void emergency_flush() noexcept;

 private:
  void append(const std::string& bytes);
  void flush_buffer();
  void finish(const std::string* footer);

  static constexpr size_t kBufferBytes = 1 << 16;
  std::string path_, tmp_;
  bool defer_rename_;
  int fd_ = -1;
  bool closed_ = false;
  std::unique_ptr<char[]> buf_;
  std::atomic<size_t> used_{0};  // committed bytes in buf_: whole lines only
  uint64_t records_ = 0;
};

// In a sanitizer build, a bad access ends the process with the sanitizer's report rather than a
// signal; a death callback then saves the traces, and prints `text` on stdout (the crash report a
// parent would have printed); "" clears it (the run is over). No effect in other builds.
void set_sanitizer_crash_report(std::string text);

// For tests of the crash path: when the environment variable CFSIM_TEST_CRASH is "SEED:RECORD",
// a run with that seed aborts (SIGABRT, like a failed assertion) right after writing trace record
// number RECORD; with "SEED:RECORD:segv" it writes through a wild pointer instead (SIGSEGV); with
// ":throw" a callback scheduled at record RECORD throws std::runtime_error out of the kernel's loop
// (a run that throws); with ":hang" it waits there to be killed (kill -9 from a test). Add
// the sink returned last, after the trace's own sinks; nullptr when the variable names another seed.
std::shared_ptr<TraceSink> test_crash_sink_for(uint64_t seed);

// After a child writing `path` through a SafeJsonlSink died without renaming it (SIGKILL: no handler
// runs): keeps what it left, "<path>.<pid>.tmp" cut after its last whole line, as `path`. Whatever
// sat in the child's buffer is lost with it. True if `path` exists afterwards.
bool salvage_trace(const std::string& path, pid_t pid);

// How a child process ended.
struct ChildStatus {
  bool signaled = false;
  int exit_code = 0;  // when !signaled
  int signal = 0;     // when signaled
  pid_t pid = -1;     // the child's
  std::string describe() const;  // "exit code 1", "signal 6 (Aborted)"
};

// Runs `body` in a forked child and waits for it; the child exits with body's return value.
// Standard streams are flushed first so nothing is printed twice.
ChildStatus run_in_child(const std::function<int()>& body);

// Forks a child that runs `body` with its stdout redirected into a pipe; returns the child's pid
// and the read end. The child exits with body's return value.
struct Child {
  pid_t pid = -1;
  int fd = -1;
};
Child spawn_child(const std::function<int()>& body);
ChildStatus wait_child(pid_t pid);

}  // namespace cfsim::cli
