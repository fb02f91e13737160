#pragma once
// HTTP messages as the simulated Worker, Durable Objects and containers exchange them. Headers keep
// their order and compare names case-insensitively, as HTTP does.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cfsim {

class BodyStream;  // model/body_stream.h: a response body arriving in chunks over virtual time
class WebSocket;   // model/websocket.h: one end of a WebSocket connection

class Headers {
 public:
  Headers() = default;
  Headers(std::initializer_list<std::pair<std::string, std::string>> init) : fields_(init) {}
  std::optional<std::string> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  void set(std::string name, std::string value);  // replaces every field of that name
  void append(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  void remove(std::string_view name);
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }
  size_t size() const { return fields_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

struct Request {
  std::string method = "GET";
  std::string url = "http://localhost/";
  Headers headers;
  std::string body;

  std::string path() const;  // "/a/b" from "https://host/a/b?x=1"
  std::string host() const;  // "host" from "https://host:8080/a"
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // A streamed body (null: the body is complete in `body`). The producer writes chunks over
  // virtual time; the receiver reads them as they arrive (model/body_stream.h).
  std::shared_ptr<BodyStream> stream;
  // Status 101: the end of an accepted WebSocket that belongs to whoever receives this response
  // (the WebSocketPair end the server did not keep; model/websocket.h).
  std::shared_ptr<WebSocket> websocket;

  Response() = default;
  Response(int s, std::string b) : status(s), body(std::move(b)) {}
  bool ok() const { return status >= 200 && status < 300; }
};

}  // namespace cfsim
