// The shard of a service (collector/cluster/shards.h): FNV-1a 64 mod 64, the
// same for a check and for its results, the check's name when it has no
// service.
#include "collector/cluster/shards.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sonde::collector::cluster {
namespace {

TEST(ShardsTest, Fnv1a64OfTheServiceModulo64) {
  // FNV-1a 64 test vectors: "" = 0xcbf29ce484222325, "a" =
  // 0xaf63dc4c8601ec8c, "foobar" = 0x85944171f73967e8; the low 6 bits.
  EXPECT_EQ(ShardOf(""), 0x25);
  EXPECT_EQ(ShardOf("a"), 0x0c);
  EXPECT_EQ(ShardOf("foobar"), 0x28);
}

TEST(ShardsTest, ChecksAndResultsOfAServiceShareItsShard) {
  v1::Check named;
  named.set_name("api-eu");
  named.set_service("shop");
  v1::Check unnamed;
  unnamed.set_name("blog");
  EXPECT_EQ(ShardOf(named), ShardOf("shop"));
  EXPECT_EQ(ShardOf(unnamed), ShardOf("blog")) << "no service: the check's name";

  v1::ProbeResult r;
  r.set_check_id("api-eu");
  r.set_service("shop");
  EXPECT_EQ(ShardOf(r), ShardOf(named));
  r.set_check_id("blog");
  r.clear_service();
  EXPECT_EQ(ShardOf(r), ShardOf(unnamed));
}

TEST(ShardsTest, ServicesSpreadOverEveryShard) {
  std::set<int> seen;
  for (int i = 0; i < 2000; ++i) {
    const int s = ShardOf("service-" + std::to_string(i));
    ASSERT_GE(s, 0);
    ASSERT_LT(s, kShardCount);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kShardCount));
}

}  // namespace
}  // namespace sonde::collector::cluster
