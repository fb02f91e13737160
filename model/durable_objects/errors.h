#pragma once
// What a caller of a Durable Object sees when the call fails for a platform reason (not an
// exception the object itself threw, which reaches the caller as it was thrown).

#include <stdexcept>

namespace cfsim {

// What a caller sees when the object fails under it (reset, crash, failed commit).
class DurableObjectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// RPC could not serialize the method's result (workerd's DOMException "DataCloneError"). A
// WebSocket cannot cross RPC, alone or in a Response: only the stub's fetch() can carry an
// upgraded socket (platform-facts §3, §8 item 18, workerd#2319).
class DataCloneError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
inline constexpr const char* kWebSocketDataCloneMessage =
    "Could not serialize object of type \"WebSocket\". This type does not support serialization.";

}  // namespace cfsim
