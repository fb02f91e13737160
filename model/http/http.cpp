#include "model/http/http.h"

#include <algorithm>

namespace cfsim {

namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// Where the authority part of a URL starts and ends ("scheme://authority/path").
std::pair<size_t, size_t> authority(std::string_view url) {
  size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string_view::npos) end = url.size();
  return {start, end};
}
}  // namespace

std::optional<std::string> Headers::get(std::string_view name) const {
  for (const auto& [k, v] : fields_)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

void Headers::set(std::string name, std::string value) {
  remove(name);
  fields_.emplace_back(std::move(name), std::move(value));
}

void Headers::remove(std::string_view name) {
  std::erase_if(fields_, [&](const auto& f) { return iequals(f.first, name); });
}

std::string Request::path() const {
  auto [start, end] = authority(url);
  (void)start;
  size_t q = url.find_first_of("?#", end);
  std::string p = url.substr(end, q == std::string::npos ? std::string::npos : q - end);
  return p.empty() ? "/" : p;
}

std::string Request::host() const {
  auto [start, end] = authority(url);
  std::string h = url.substr(start, end - start);
  if (size_t colon = h.rfind(':'); colon != std::string::npos && h.find(']') == std::string::npos) h.resize(colon);
  return h;
}

}  // namespace cfsim
