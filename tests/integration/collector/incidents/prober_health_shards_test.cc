// Prober health judged across shards (docs/ha.md, "Next steps" 3): two
// replicas in cluster mode, two services whose shards rendezvous gives to
// different replicas, three checks each, in ams/ber/fra. The fra prober
// fails all six checks (they pass in ams and ber): one collector takes fra
// out of the votes (6 >= prober_min_checks checks, all failing what the
// other regions pass) and raises one PROBER_FAULT ticket, no target
// incident. Each shard alone holds only 3 checks of fra. The oracle is one
// Detector over the same results. Real PostgreSQL, shipped detection
// settings, a fake clock for the minutes.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/cluster/shard_ownership.h"
#include "collector/cluster/shards.h"
#include "collector/detect/detector.h"
#include "collector/incidents/detection.h"
#include "collector/storage/pg/pg.h"
#include "common/clock.h"
#include "common/config/config.h"
#include "tests/integration/collector/incidents/detecting_replica.h"
#include "tests/integration/collector/incidents/step_batches.h"
#include "tests/testing/cluster.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/probe_results.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_test_base.h"

namespace sonde::collector {
namespace {

constexpr absl::Duration kInterval = kStepInterval;
constexpr int kSteps = 60;     // 10 minutes of runs
constexpr int kFailsFrom = 3;  // the fra prober breaks here
constexpr int kChunk = 3;      // steps stored between two clock moves
const char* const kRegions[] = {"ams", "ber", "fra"};

// The first service name "<prefix><n>" whose shard rendezvous gives to
// `owner` among {a, b}, and which is not the prober_fault_service's shard.
std::string ServiceOwnedBy(const std::string& owner, const std::string& prefix) {
  const int sonde_shard = cluster::ShardOf("sonde");
  for (int n = 0; n < 1000; ++n) {
    const std::string name = absl::StrCat(prefix, n);
    const int shard = cluster::ShardOf(name);
    if (shard != sonde_shard && cluster::RendezvousOwner(shard, {"a", "b"}) == owner) {
      return name;
    }
  }
  return "";
}

v1::Config ConfigOf(const std::vector<std::string>& services) {
  std::string yaml = "regions: [ams, ber, fra]\nchecks:\n";
  for (const std::string& s : services) {
    for (int i = 0; i < 3; ++i) {
      absl::StrAppend(&yaml, "  - {name: ", s, "-c", i, ", service: ", s,
                      ", interval: 10s, http: {url: 'http://example.org/", i, "'}}\n");
    }
  }
  absl::StatusOr<v1::Config> config = common::ParseConfig(yaml, "health.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : v1::Config();
}

// The fra prober breaks at kFailsFrom; the checks pass everywhere else.
bool FraFails(const std::string&, const std::string& region, int k) {
  return region == "fra" && k >= kFailsFrom;
}

using ProberHealthAcrossShardsTest = StoredStepsTest;

TEST_F(ProberHealthAcrossShardsTest, ABrokenProberIsOneProberFaultAndNoTargetIncident) {
  const std::string on_a = ServiceOwnedBy("a", "pha");
  const std::string on_b = ServiceOwnedBy("b", "phb");
  ASSERT_FALSE(on_a.empty());
  ASSERT_FALSE(on_b.empty());
  const v1::Config config = ConfigOf({on_a, on_b});

  // The oracle: one collector over every check.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<detect::Detector> one,
                       detect::Detector::Create(detect::WithConfig({}, config.detection())));
  ASSERT_OK(one->SetConfig(config, start_));
  std::vector<detect::IncidentEvent> oracle;

  // Both replicas beat before either passes, so each sees the other live
  // (a beat reads the members) and takes its share.
  common::FakeClock clock(start_);
  auto a = std::make_unique<DetectingReplica>(conninfo_, "a", &clock);
  auto b = std::make_unique<DetectingReplica>(conninfo_, "b", &clock);
  for (DetectingReplica* r : {a.get(), b.get()}) {
    ASSERT_OK(r->runner.Start(config));
    ASSERT_OK(r->beat.BeatOnce());
  }
  for (DetectingReplica* r : {a.get(), b.get()}) {
    ASSERT_OK(r->beat.BeatOnce());
    ASSERT_OK(r->shards.PassOnce());
  }
  ASSERT_TRUE(a->shards.EpochOf(cluster::ShardOf(on_a)).has_value());
  ASSERT_TRUE(b->shards.EpochOf(cluster::ShardOf(on_b)).has_value());
  ASSERT_FALSE(a->shards.EpochOf(cluster::ShardOf(on_b)).has_value());

  // The results reach the owners through the feed, kChunk steps at a time.
  const uint64_t per_step = 3 * 3;  // each replica: its service's checks x regions
  for (int k = 0; k < kSteps; k += kChunk) {
    for (int j = k; j < k + kChunk; ++j) {
      for (const char* region : kRegions) {
        const v1::ResultBatch batch = StepBatch(config, prober_, region, start_, j, FraFails);
        ASSERT_OK(store_->InsertBatch(batch).status());
        for (const v1::ProbeResult& r : batch.results()) {
          one->Observe(r);
        }
      }
    }
    const uint64_t want = static_cast<uint64_t>(k + kChunk) * per_step;
    ASSERT_TRUE(sonde::testing::WaitUntil(
        [&] {
          return a->runner.detector_stats().results_observed >= want &&
                 b->runner.detector_stats().results_observed >= want;
        },
        std::chrono::seconds(10), std::chrono::milliseconds(20)))
        << "the feed lags at step " << k;
    clock.Advance(kChunk * kInterval);
    for (detect::IncidentEvent& e : one->Tick(clock.Now())) {
      oracle.push_back(std::move(e));
    }
    // Renew the leases (no shard loop thread runs in this test).
    ASSERT_OK(a->shards.PassOnce());
    ASSERT_OK(b->shards.PassOnce());
  }

  // One collector: fra's prober is out of the votes; one ticket, no page.
  int oracle_prober = 0;
  int oracle_target = 0;
  for (const detect::IncidentEvent& e : oracle) {
    if (e.kind == detect::IncidentEventKind::kOpened) {
      ++(e.incident.kind == detect::IncidentKind::kProberFault ? oracle_prober : oracle_target);
    }
  }
  ASSERT_EQ(oracle_prober, 1);
  ASSERT_EQ(oracle_target, 0);

  // Both owners evaluated up to the end (recorded_until), then compare.
  const absl::Time end = start_ + kSteps * kInterval - absl::Seconds(3);
  EXPECT_TRUE(sonde::testing::WaitUntil(
      [&] {
        return *db_.Int(absl::StrCat("SELECT count(*) FROM shard_leases WHERE shard IN (",
                                     cluster::ShardOf(on_a), ", ", cluster::ShardOf(on_b),
                                     ") AND recorded_until >= '", pg::Timestamp(end), "'")) == 2;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << "the owners did not evaluate up to the end";
  EXPECT_EQ(*db_.Int("SELECT count(*) FROM incidents WHERE kind <> 'PROBER_FAULT'"), 0)
      << "a shard judged fra's prober over its own 3 checks and paged its service";
  EXPECT_EQ(*db_.Int("SELECT count(*) FROM incidents WHERE kind = 'PROBER_FAULT'"), 1);
  // The ticket one collector raises: fra, naming all six checks.
  EXPECT_EQ(*db_.Int("SELECT count(*) FROM incidents WHERE kind = 'PROBER_FAULT'"
                     " AND regions = '{fra}' AND cardinality(checks) = 6"),
            1);
}

}  // namespace
}  // namespace sonde::collector
