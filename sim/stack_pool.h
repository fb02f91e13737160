#pragma once
// Fiber stacks: mmap'd, each with a PROT_NONE guard page below it so an overflow faults instead
// of corrupting a neighbour, and reused from a free list. Creating a stack costs a few syscalls
// and page faults (tens of microseconds); reusing one costs a vector pop. Stacks are carved from
// slabs of several at a time to amortise the mmap.

#include <boost/context/stack_context.hpp>

#include <cstddef>
#include <vector>

namespace cfsim {

class StackPool {
 public:
  // `stack_bytes` is the usable size of each stack (rounded up to whole pages); throws
  // std::invalid_argument below the 16 KiB minimum.
  explicit StackPool(size_t stack_bytes);
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  boost::context::stack_context allocate();
  void deallocate(boost::context::stack_context& sc);

  size_t stack_bytes() const { return stack_bytes_; }
  size_t stacks_created() const { return created_; }
  size_t stacks_free() const { return free_.size(); }

  static constexpr size_t kMinStackBytes = 16 * 1024;

 private:
  void grow();
  size_t page_ = 4096;
  size_t stack_bytes_;
  size_t created_ = 0;
  std::vector<boost::context::stack_context> free_;
  struct Slab { void* base; size_t bytes; };
  std::vector<Slab> slabs_;
};

}  // namespace cfsim
