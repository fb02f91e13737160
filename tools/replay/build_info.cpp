#include "tools/replay/build_info.h"

#include <boost/version.hpp>
#include <fmt/format.h>
#include <sqlite3.h>

#include <set>

// Set by tools/replay/CMakeLists.txt from the build's flags: those that change generated code.
#ifndef CFSIM_BUILD_FLAGS
#define CFSIM_BUILD_FLAGS "unknown"
#endif

namespace cfsim::cli {

namespace {

std::string compiler() {
#if defined(__clang__)
  return fmt::format("clang {}", __clang_version__);
#elif defined(__GNUC__)
  return fmt::format("gcc {}", __VERSION__);
#else
  return "unknown";
#endif
}

std::string flags() {
  std::string f = CFSIM_BUILD_FLAGS;
#ifdef NDEBUG
  f += f.empty() ? "-DNDEBUG" : " -DNDEBUG";
#endif
  return f;
}

}  // namespace

const BuildInfo& this_build() {
  static const BuildInfo build = {
      {"cfsim", CFSIM_VERSION},
      {"sqlite", sqlite3_libversion()},
      {"boost", BOOST_LIB_VERSION},
      {"compiler", compiler()},
      {"flags", flags()},
  };
  return build;
}

std::vector<std::string> build_differences(const BuildInfo& a, const BuildInfo& b, const char* a_name, const char* b_name) {
  auto find = [](const BuildInfo& in, const std::string& key) -> const std::string* {
    for (const auto& [k, v] : in)
      if (k == key) return &v;
    return nullptr;
  };
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto compare = [&](const std::string& key) {
    if (!seen.insert(key).second) return;
    const std::string *va = find(a, key), *vb = find(b, key);
    if (va && vb && *va == *vb) return;
    out.push_back(fmt::format("{}: {} ({}) vs {} ({})", key, va ? *va : "(not recorded)", a_name, vb ? *vb : "(not recorded)", b_name));
  };
  for (const auto& [k, v] : a) compare(k);
  for (const auto& [k, v] : b) compare(k);
  return out;
}

}  // namespace cfsim::cli
