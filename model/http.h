#pragma once
// HTTP messages as the simulated Worker, Durable Objects and containers exchange them. Headers keep
// their order and compare names case-insensitively, as HTTP does.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cfsim {

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

  Response() = default;
  Response(int s, std::string b) : status(s), body(std::move(b)) {}
  bool ok() const { return status >= 200 && status < 300; }
};

}  // namespace cfsim
