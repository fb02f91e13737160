#include "sim/stack_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include <new>
#include <stdexcept>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CFSIM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define CFSIM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace cfsim {

namespace {
constexpr size_t kStacksPerSlab = 16;
}

StackPool::StackPool(size_t stack_bytes) {
  long ps = ::sysconf(_SC_PAGESIZE);
  if (ps > 0) page_ = static_cast<size_t>(ps);
  if (stack_bytes < kMinStackBytes)
    throw std::invalid_argument(fmt::format("fiber stack size {} bytes is below the minimum of {} bytes",
                                            stack_bytes, kMinStackBytes));
  stack_bytes_ = (stack_bytes + page_ - 1) / page_ * page_;
}

StackPool::~StackPool() {
  for (const Slab& s : slabs_) ::munmap(s.base, s.bytes);
}

void StackPool::grow() {
  const size_t one = stack_bytes_ + page_;  // guard page + stack
  const size_t bytes = one * kStacksPerSlab;
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  slabs_.push_back({base, bytes});
  // Push in reverse so that stacks are handed out lowest address first (cosmetic; nothing depends on it).
  for (size_t i = kStacksPerSlab; i-- > 0;) {
    char* lo = static_cast<char*>(base) + i * one;
    ::mprotect(lo, page_, PROT_NONE);  // the guard page sits below the stack: stacks grow down
    boost::context::stack_context sc;
    sc.size = stack_bytes_;
    sc.sp = lo + one;  // top of the stack
    free_.push_back(sc);
  }
  created_ += kStacksPerSlab;
}

boost::context::stack_context StackPool::allocate() {
  if (free_.empty()) grow();
  boost::context::stack_context sc = free_.back();
  free_.pop_back();
  return sc;
}

void StackPool::deallocate(boost::context::stack_context& sc) {
  // A reused stack must not carry the sanitizer's poisoning from its previous fiber.
  CFSIM_UNPOISON(static_cast<char*>(sc.sp) - sc.size, sc.size);
  free_.push_back(sc);
}

}  // namespace cfsim
