#pragma once
// What the container runtime throws: the platform's JS Errors and their texts (workerd, the SDK's
// substrings and user reports: platform-facts.md §1.2-§1.4, §2, §9). The SDK's Container class
// matches these texts by substring, so they are the platform's exactly.

#include <stdexcept>
#include <string>
#include <string_view>

namespace cfsim {

// An `Error` the runtime throws (the platform's JS Error with this message).
class ContainerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// monitor()'s rejection for any end other than exit 0 or destroy(): the message is the platform's
// ("Container exited with unexpected exit code: N", or "Runtime signalled the container to exit:
// N" for platform stops), and exit_code() is N (`.exitCode`, W2).
class ContainerExitError : public ContainerError {
 public:
  ContainerExitError(const std::string& message, int exit_code) : ContainerError(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The platform's error texts (workerd, the SDK's substrings and user reports: §1.2-§1.4, §2, §9).
inline constexpr std::string_view kAlreadyRunning = "start() cannot be called on a container that is already running";
inline constexpr std::string_view kNotRunning = "the container is not running, consider calling start()";
inline constexpr std::string_view kNoInstance = "there is no container instance that can be provided to this durable object";
inline constexpr std::string_view kMaxInstancesExceeded = "Maximum number of running container instances exceeded";
inline constexpr std::string_view kConnectionLost = "Network connection lost.";
inline constexpr std::string_view kProbeTimeout = "The operation was aborted due to timeout";
std::string not_listening_message(int port);  // "The container is not listening in the TCP address 10.0.0.1:<port>"

}  // namespace cfsim
