#include "model/containers/instance_type.h"

#include <fmt/format.h>

#include <stdexcept>

namespace cfsim {

namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kMB = 1'000'000;          // the platform's storage MB
constexpr int64_t kGB = 1'000'000'000;      // the platform's storage GB

struct Named {
  const char* alias;  // nullptr if none
  InstanceType type;
};

// platform-facts §2, instance types table [A4].
const std::vector<Named>& table() {
  static const std::vector<Named> t = {
      {"dev", {"lite", 62, 256 * kMiB, 2 * kGB}},  // 1/16 vCPU = 62.5 milli, rounded down
      {nullptr, {"basic", 250, 1 * kGiB, 4 * kGB}},
      {"standard", {"standard-1", 500, 4 * kGiB, 8 * kGB}},
      {nullptr, {"standard-2", 1000, 6 * kGiB, 12 * kGB}},
      {nullptr, {"standard-3", 2000, 8 * kGiB, 16 * kGB}},
      {nullptr, {"standard-4", 4000, 12 * kGiB, 20 * kGB}},
  };
  return t;
}

std::string joined_names() {
  std::string out;
  for (const std::string& n : instance_type_names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

const std::vector<std::string>& instance_type_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Named& n : table()) {
      v.push_back(n.type.name);
      if (n.alias) v.emplace_back(n.alias);
    }
    return v;
  }();
  return names;
}

const InstanceType& instance_type(std::string_view name) {
  for (const Named& n : table())
    if (name == n.type.name || (n.alias && name == n.alias)) return n.type;
  throw std::invalid_argument(
      fmt::format("unknown instance type '{}'; valid names: {} (or a custom type via custom_instance_type)", name,
                  joined_names()));
}

InstanceType custom_instance_type(int vcpu, int64_t memory_mib, int64_t disk_mb) {
  constexpr int64_t kMaxMemoryMib = 12 * 1024;      // 12 GiB
  constexpr int64_t kMinMemoryMibPerVcpu = 3 * 1024;  // 3 GiB per vCPU
  constexpr int64_t kMaxDiskMb = 20'000;            // 20 GB
  constexpr int64_t kDiskMbPerMemoryGib = 2'000;    // 2 GB of disk per GiB of memory
  if (vcpu < 1 || vcpu > 4)
    throw std::invalid_argument(fmt::format(
        "custom instance type: vcpu {} is out of range; it must be a whole number from 1 to 4 (for less than "
        "one vCPU use the lite or basic type)",
        vcpu));
  if (memory_mib > kMaxMemoryMib)
    throw std::invalid_argument(fmt::format(
        "custom instance type: memory_mib {} exceeds the maximum of {} MiB (12 GiB)", memory_mib, kMaxMemoryMib));
  if (memory_mib < kMinMemoryMibPerVcpu * vcpu)
    throw std::invalid_argument(fmt::format(
        "custom instance type: memory_mib {} is below the minimum of {} MiB for {} vCPU (3 GiB = 3072 MiB per vCPU)",
        memory_mib, kMinMemoryMibPerVcpu * vcpu, vcpu));
  if (disk_mb < 1)
    throw std::invalid_argument(fmt::format("custom instance type: disk_mb {} must be positive", disk_mb));
  if (disk_mb > kMaxDiskMb)
    throw std::invalid_argument(fmt::format(
        "custom instance type: disk_mb {} exceeds the maximum of {} MB (20 GB)", disk_mb, kMaxDiskMb));
  // disk_mb / 1000 GB <= 2 * memory_mib / 1024 GiB, in integers (both sides are small here).
  if (disk_mb * 1024 > memory_mib * kDiskMbPerMemoryGib)
    throw std::invalid_argument(fmt::format(
        "custom instance type: disk_mb {} exceeds {} MB, the limit of 2 GB of disk per GiB of memory for "
        "memory_mib {}",
        disk_mb, memory_mib * kDiskMbPerMemoryGib / 1024, memory_mib));
  return InstanceType{fmt::format("custom:vcpu={},memory_mib={},disk_mb={}", vcpu, memory_mib, disk_mb),
                      int64_t{vcpu} * 1000, memory_mib * kMiB, disk_mb * kMB};
}

}  // namespace cfsim
