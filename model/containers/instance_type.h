#pragma once
// Container instance types (platform-facts §2): how much CPU, memory and disk one container
// instance gets. The named types come from the platform's table; a custom type is built from
// whole vCPUs, MiB of memory and MB of disk under the platform's custom-type rules.
//
// Units. Memory is binary: MiB = 2^20 bytes, GiB = 2^30 bytes (the table says "256 MiB",
// "4 GiB"). Disk is decimal, as the platform counts storage: GB = 10^9 bytes, MB = 10^6 bytes
// (the table says "2 GB"; the custom-type key is `disk_mb`, and the 20 GB cap is 20 000 MB).
// CPU is in thousandths of a vCPU.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cfsim {

struct InstanceType {
  std::string name;       // canonical name ("lite", "standard-1", ...) or "custom:vcpu=..."
  int64_t vcpu_milli;     // thousandths of a vCPU
  int64_t memory_bytes;   // MiB/GiB are binary (2^20 / 2^30)
  int64_t disk_bytes;     // GB/MB are decimal (10^9 / 10^6)
};

// The named type `name`: lite (alias dev), basic, standard-1 (alias standard), standard-2,
// standard-3, standard-4. An alias returns the canonical entry (instance_type("dev").name ==
// "lite"). Throws std::invalid_argument naming `name` and listing the valid names otherwise.
//
// lite's 1/16 vCPU is 62.5 milli-vCPU, which an integer cannot hold; it is stored as 62 (rounded
// down, so the model never grants more CPU than the platform).
const InstanceType& instance_type(std::string_view name);

// Every accepted name, canonical names and aliases, in table order ("lite", "dev", "basic", ...).
const std::vector<std::string>& instance_type_names();

// A custom instance type (platform-facts §2; wrangler keys vcpu, memory_mib, disk_mb):
//   vcpu: a whole number 1..4 (less than one vCPU only through lite or basic);
//   memory: at most 12 GiB (12 288 MiB) and at least 3 GiB (3 072 MiB) per vCPU;
//   disk: positive, at most 20 GB (20 000 MB) and at most 2 GB of disk per GiB of memory
//         (disk_mb * 1024 <= memory_mib * 2000).
// Throws std::invalid_argument naming the value and the limit it breaks.
InstanceType custom_instance_type(int vcpu, int64_t memory_mib, int64_t disk_mb);

}  // namespace cfsim
