// ProberVitals: the latest ProberStatus per prober merged into the config
// delivery view Query.Probers answers with.
#include "collector/api/prober_vitals.h"

#include <gtest/gtest.h>

#include "common/proto_time.h"

namespace sonde::collector {
namespace {

v1::ResultBatch Batch(const std::string& prober, const std::string& region,
                      const std::string& version, uint64_t unacked) {
  v1::ResultBatch b;
  b.set_prober_id(prober);
  b.set_region(region);
  b.mutable_prober_status()->set_version(version);
  b.mutable_prober_status()->set_unacked_results(unacked);
  return b;
}

TEST(ProberVitalsTest, MergesTheLatestStatusAndAddsProbersWithoutAConfigStream) {
  const absl::Time t0 = absl::FromUnixSeconds(1764965000);
  ProberVitals vitals;
  vitals.Seen(Batch("vm-fra", "fra", "0.9.0", 5), t0);
  vitals.Seen(Batch("vm-fra", "fra", "0.9.1", 7), t0 + absl::Seconds(2));
  vitals.Seen(Batch("vm-ams", "ams", "0.9.1", 0), t0);
  // An older prober's batch has no status: last-seen moves, the status stays.
  v1::ResultBatch old = Batch("vm-ams", "ams", "", 0);
  old.clear_prober_status();
  vitals.Seen(old, t0 + absl::Seconds(9));
  vitals.Seen(Batch("vm-bad", "zzz", std::string("1.0\x1b[31m") + std::string(100, 'x'), 0), t0);

  std::vector<v1::ProberConfigStatus> probers(2);
  probers[0].set_prober_id("vm-fra");
  probers[0].set_region("fra");
  probers[0].set_applied_version("abc");
  probers[1].set_prober_id("vm-quiet");  // config stream only, no batch yet
  probers[1].set_region("fra");
  vitals.MergeInto(&probers);

  ASSERT_EQ(probers.size(), 4u);
  // By region, then prober id.
  EXPECT_EQ(probers[0].prober_id(), "vm-ams");
  EXPECT_EQ(probers[1].prober_id(), "vm-fra");
  EXPECT_EQ(probers[2].prober_id(), "vm-quiet");
  EXPECT_EQ(probers[3].prober_id(), "vm-bad");

  EXPECT_EQ(probers[0].status().version(), "0.9.1");
  EXPECT_EQ(common::ToTime(probers[0].last_seen()), t0 + absl::Seconds(9));
  EXPECT_EQ(probers[1].status().version(), "0.9.1");
  EXPECT_EQ(probers[1].status().unacked_results(), 7u);
  EXPECT_EQ(probers[1].applied_version(), "abc");  // the config view is kept
  EXPECT_EQ(common::ToTime(probers[1].last_seen()), t0 + absl::Seconds(2));
  EXPECT_FALSE(probers[2].has_status());
  EXPECT_FALSE(common::IsSet(probers[2].last_seen()));
  // Prober-supplied text is capped and loses its control characters.
  EXPECT_LE(probers[3].status().version().size(), kMaxProberVersionBytes);
  EXPECT_EQ(probers[3].status().version().find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace sonde::collector
