// Unit tests for model/instance_type.h: the named instance types (platform-facts §2, table [A4])
// and the custom-type rules (platform-facts §2, "Custom types"), each rule at its boundary.
// Public sources of the facts cited here (platform-facts tags in parentheses; docs paths under
// developers.cloudflare.com, as in its §0 legend):
//   §2 table and aliases (A4): /containers/platform/limits/ (also /containers/platform-details/limits/) and
//     cloudflare/cloudflare-docs src/content/partials/containers/instance-types.mdx
//   §2 custom types: the same page and partial (A4); /containers/configuration/scheduling-policy/ (A13);
//     @cloudflare/workers-types@5.20261117.1 index.d.ts ContainerStartResources (WT)

#include "model/containers/instance_type.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

using namespace cfsim;

namespace {

constexpr int64_t MiB = int64_t{1} << 20;
constexpr int64_t GiB = int64_t{1} << 30;
constexpr int64_t GB = 1'000'000'000;
constexpr int64_t MB = 1'000'000;

// Runs fn, expects std::invalid_argument whose message contains every one of `parts`.
template <class F>
void expect_invalid(F&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
    return;
  }
  ADD_FAILURE() << "expected std::invalid_argument";
}

void expect_type(const InstanceType& t, const char* name, int64_t vcpu_milli, int64_t memory, int64_t disk) {
  EXPECT_EQ(t.name, name);
  EXPECT_EQ(t.vcpu_milli, vcpu_milli) << name;
  EXPECT_EQ(t.memory_bytes, memory) << name;
  EXPECT_EQ(t.disk_bytes, disk) << name;
}

// platform-facts §2 table: lite 1/16 vCPU 256 MiB 2 GB ... standard-4 4 vCPU 12 GiB 20 GB.
TEST(InstanceType, NamedTypesMatchTablePlatformFacts2) {
  expect_type(instance_type("lite"), "lite", 62, 256 * MiB, 2 * GB);  // 1/16 vCPU = 62.5, rounded down
  expect_type(instance_type("basic"), "basic", 250, 1 * GiB, 4 * GB);
  expect_type(instance_type("standard-1"), "standard-1", 500, 4 * GiB, 8 * GB);
  expect_type(instance_type("standard-2"), "standard-2", 1000, 6 * GiB, 12 * GB);
  expect_type(instance_type("standard-3"), "standard-3", 2000, 8 * GiB, 16 * GB);
  expect_type(instance_type("standard-4"), "standard-4", 4000, 12 * GiB, 20 * GB);
  EXPECT_EQ(instance_type("lite").memory_bytes, 268'435'456);  // MiB is binary
  EXPECT_EQ(instance_type("lite").disk_bytes, 2'000'000'000);  // GB is decimal
}

// platform-facts §2: "dev and standard are preserved for backward compatibility".
TEST(InstanceType, AliasesReturnTheCanonicalEntryPlatformFacts2) {
  EXPECT_EQ(&instance_type("dev"), &instance_type("lite"));
  EXPECT_EQ(instance_type("dev").name, "lite");
  EXPECT_EQ(&instance_type("standard"), &instance_type("standard-1"));
  EXPECT_EQ(instance_type("standard").name, "standard-1");
  EXPECT_EQ(instance_type_names(), (std::vector<std::string>{"lite", "dev", "basic", "standard-1", "standard",
                                                             "standard-2", "standard-3", "standard-4"}));
}

TEST(InstanceType, UnknownNameIsNamedWithTheValidNames) {
  expect_invalid([] { instance_type("standard-5"); },
                 {"'standard-5'", "lite, dev, basic, standard-1, standard, standard-2, standard-3, standard-4"});
  expect_invalid([] { instance_type(""); }, {"''"});
  expect_invalid([] { instance_type("Lite"); }, {"'Lite'"});  // names are case-sensitive
}

// platform-facts §2 custom types: vCPU 1..4, whole units.
TEST(InstanceType, CustomVcpuBoundsPlatformFacts2) {
  expect_type(custom_instance_type(1, 3072, 1), "custom:vcpu=1,memory_mib=3072,disk_mb=1", 1000, 3 * GiB, 1 * MB);
  expect_type(custom_instance_type(4, 12288, 20000), "custom:vcpu=4,memory_mib=12288,disk_mb=20000", 4000, 12 * GiB,
              20 * GB);
  expect_invalid([] { custom_instance_type(0, 3072, 100); }, {"vcpu 0", "1 to 4", "lite or basic"});
  expect_invalid([] { custom_instance_type(5, 12288, 100); }, {"vcpu 5", "1 to 4"});
  expect_invalid([] { custom_instance_type(-1, 3072, 100); }, {"vcpu -1"});
}

// platform-facts §2 custom types: memory <= 12 GiB and >= 3 GiB per vCPU.
TEST(InstanceType, CustomMemoryBoundsPlatformFacts2) {
  EXPECT_EQ(custom_instance_type(2, 6144, 100).memory_bytes, 6 * GiB);  // exactly 3 GiB per vCPU
  expect_invalid([] { custom_instance_type(2, 6143, 100); }, {"memory_mib 6143", "6144 MiB", "2 vCPU"});
  EXPECT_EQ(custom_instance_type(3, 12288, 100).memory_bytes, 12 * GiB);  // exactly the 12 GiB cap
  expect_invalid([] { custom_instance_type(3, 12289, 100); }, {"memory_mib 12289", "12288 MiB"});
  expect_invalid([] { custom_instance_type(4, 12287, 100); }, {"memory_mib 12287", "12288 MiB for 4 vCPU"});
  expect_invalid([] { custom_instance_type(1, 0, 100); }, {"memory_mib 0"});
  expect_invalid([] { custom_instance_type(1, -5, 100); }, {"memory_mib -5"});
  expect_invalid([] { custom_instance_type(1, INT64_MAX, 100); }, {"memory_mib 9223372036854775807"});
}

// platform-facts §2 custom types: disk <= 20 GB and <= 2 GB of disk per GiB of memory.
TEST(InstanceType, CustomDiskBoundsPlatformFacts2) {
  // 3 GiB of memory allows 6 GB of disk: 6000 MB passes, 6001 fails.
  EXPECT_EQ(custom_instance_type(1, 3072, 6000).disk_bytes, 6 * GB);
  expect_invalid([] { custom_instance_type(1, 3072, 6001); }, {"disk_mb 6001", "6000 MB", "2 GB of disk per GiB"});
  // 10 GiB would allow 20 GB; the per-GiB bound is not integral everywhere: 3584 MiB = 3.5 GiB -> 7000 MB.
  EXPECT_EQ(custom_instance_type(1, 3584, 7000).disk_bytes, 7 * GB);
  expect_invalid([] { custom_instance_type(1, 3584, 7001); }, {"disk_mb 7001"});
  // The absolute 20 GB cap bites before the per-GiB one at 12 GiB (which would allow 24 GB).
  EXPECT_EQ(custom_instance_type(4, 12288, 20000).disk_bytes, 20 * GB);
  expect_invalid([] { custom_instance_type(4, 12288, 20001); }, {"disk_mb 20001", "20000 MB"});
  expect_invalid([] { custom_instance_type(1, 3072, 0); }, {"disk_mb 0", "positive"});
  expect_invalid([] { custom_instance_type(1, 3072, INT64_MAX); }, {"disk_mb 9223372036854775807"});
}

}  // namespace
