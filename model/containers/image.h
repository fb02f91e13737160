#pragma once
// An image: what a container namespace runs (the program, its disk, its environment, the programs
// exec() can run). The platform keeps one per version (model/containers/platform.h).

#include <functional>
#include <map>
#include <string>

#include "model/containers/exec.h"

namespace cfsim {

class Process;

// An image: the program and its filesystem. `version` names it (rollouts switch versions).
struct ContainerImage {
  std::string version = "v1";
  std::function<void(Process&)> main;       // runs as the process's first fiber
  std::map<std::string, std::string> files;  // absolute path -> contents: the pristine disk
  std::map<std::string, std::string> env;    // the image's ENV; start() options layer over it
  // The programs exec() can run, by the exact name cmd[0] must give (e.g. "/bin/ls" and "ls" are
  // two names). An unknown name: see ContainerRuntime::exec.
  std::map<std::string, ExecProgram> programs = {};
};

}  // namespace cfsim
