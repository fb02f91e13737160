#pragma once
// CFSIM_ASSERT(cond): an invariant, checked in every build (release included). A failure is a bug
// in cfsim, never the app's or the platform's doing: it prints the condition, file and line to
// stderr and aborts, so the command line's forked run reports a crash and keeps the trace so far
// (tools/replay/safe_sink.h). Say invariants this way rather than in comments; keep the condition
// cheap, since it runs on hot paths too.

#include <cstdio>
#include <cstdlib>

namespace cfsim::detail {

[[noreturn]] inline void assert_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "cfsim: assertion failed: %s (%s:%d)\n", condition, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace cfsim::detail

#define CFSIM_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::cfsim::detail::assert_failed(#cond, __FILE__, __LINE__))
