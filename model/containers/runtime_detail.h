#pragma once
// Internals the container runtime's files share (runtime.cpp, exec.cpp, inactivity.cpp,
// process.cpp): not for apps or tests.

#include <fmt/format.h>

#include <map>
#include <memory>
#include <string>
#include <stdexcept>
#include <string_view>

#include "model/containers/runtime.h"

namespace cfsim {

namespace detail {
// The environment rules of start() and exec() (W2 Container::start).
inline void check_env(const std::map<std::string, std::string>& env, std::string_view prefix) {
  for (const auto& [name, value] : env) {
    if (name.empty() || name.find('=') != std::string::npos || name.find('\0') != std::string::npos)
      throw std::invalid_argument(fmt::format("{}Environment variable names cannot be empty or contain '=' or NUL (got '{}')", prefix, name));
    if (value.find('\0') != std::string::npos)
      throw std::invalid_argument(fmt::format("{}Environment variable values cannot contain NUL (variable '{}')", prefix, name));
  }
}
}  // namespace detail

// What an exec() handle and the runtime share (model/containers/exec.h, ExecProcess).
struct ExecProcess::State {
  State(Simulator& sim, ContainerRuntime& r, std::weak_ptr<int> token, std::string name)
      : rt(&r), alive(std::move(token)), exited(sim, std::move(name)) {}
  ContainerRuntime* rt;
  std::weak_ptr<int> alive;  // rt is valid while this is
  ExecContext ctx;
  std::map<std::string, std::string> env;  // ExecOptions::env, layered over the process's at launch
  Promise<int> exited;
  bool delivered = false;  // reached the container (one hop after exec())
  bool done = false;
  bool output_taken = false;
  FiberHandle fiber;       // the program's, once launched
};

}  // namespace cfsim
