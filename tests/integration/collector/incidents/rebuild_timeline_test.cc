// A new owner's rebuild writes no timeline row twice (docs/ha.md,
// "Detection shards under leases"): an earlier owner detected an outage
// from stored results and recorded its timeline (OPENED, PROGRESS,
// REGIONS_CHANGED); a replica that takes the shard over restores the open
// incident, rebuilds its windows by replaying the same stored results and
// follows the feed. The replay re-decides every change the earlier owner
// recorded, at the same instants: it must apply them to memory and write
// none of them, and later write the recovery (RESOLVED) once. Real
// PostgreSQL, shipped detection settings, a fake clock for the minutes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/detect/detector.h"
#include "collector/incidents/detection.h"
#include "collector/incidents/incident_store.h"
#include "collector/storage/store.h"
#include "common/clock.h"
#include "common/config/config.h"
#include "tests/integration/collector/incidents/detecting_replica.h"
#include "tests/testing/cluster.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/probe_results.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_test_base.h"

namespace sonde::collector {
namespace {

// The PostgreSQL server is registered once for the binary, in
// incident_store_test.cc.

constexpr absl::Duration kInterval = absl::Seconds(10);
const char* const kRegions[] = {"ams", "ber", "fra"};

// Which (check, region) fails at step k (t = start + k x interval): both
// checks everywhere from step 6; rb-api recovers at step 15 (PROGRESS),
// rb-home in fra at step 24 (REGIONS_CHANGED); everything from step 36.
bool Fails(const std::string& check, const std::string& region, int k) {
  if (k < 6 || k >= 36) {
    return false;
  }
  if (check == "rb-api") {
    return k < 15;
  }
  return region != "fra" || k < 24;
}

// One run of every check in `region` at step k, from that region's prober.
v1::ResultBatch StepBatch(const std::string& prober_prefix, const std::string& region,
                          absl::Time start, int k) {
  v1::ResultBatch b;
  const std::string prober = absl::StrCat(prober_prefix, region);
  b.set_prober_id(prober);
  b.set_region(region);
  b.set_batch_seq(static_cast<uint64_t>(k) + 1);
  uint64_t seq = static_cast<uint64_t>(k) * 10;
  for (const std::string check : {"rb-home", "rb-api"}) {
    *b.add_results() = sonde::testing::HttpResult(check, "rb", prober, region, seq++,
                                                  start + k * kInterval, Fails(check, region, k));
  }
  return b;
}

using RebuildTimelineTest = sonde::testing::MigratedStoreTest;

TEST_F(RebuildTimelineTest, ANewOwnersRebuildWritesNoTimelineRowTwice) {
  const std::string conninfo = sonde::testing::PostgresEnvironment::conninfo();
  Store* store = store_.get();
  sonde::testing::Db db(conninfo);
  ASSERT_OK(db.Query("TRUNCATE outbox, incident_events, incidents, shard_leases,"
                     " collector_members, cluster_config")
                .status());
  ASSERT_OK_AND_ASSIGN(v1::Config config,
                       common::ParseConfig("regions: [ams, ber, fra]\n"
                                           "checks:\n"
                                           "  - {name: rb-home, service: rb, interval: 10s,"
                                           " http: {url: 'http://rb.example/'}}\n"
                                           "  - {name: rb-api, service: rb, interval: 10s,"
                                           " http: {url: 'http://rb.example/api'}}\n",
                                           "rebuild.yaml"));
  const std::string prober = absl::StrCat("rb-", absl::ToUnixNanos(absl::Now()), "-");
  // Ten minutes ago, on an interval boundary: the rebuild (16 min) covers it all.
  const absl::Time start =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 10 * 10) - absl::Minutes(10);
  constexpr int kTakeover = 36;  // the new owner gains the shard at this step

  // The earlier owner: the same Detector over the same results, recording
  // what it decides (no lease: epoch NULL), step by step as results come.
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<detect::Detector> earlier,
                         detect::Detector::Create(detect::WithConfig({}, config.detection())));
    ASSERT_OK(earlier->SetConfig(config, start));
    IncidentStore recorder(conninfo);
    for (int k = 0; k < kTakeover; ++k) {
      for (const char* region : kRegions) {
        const v1::ResultBatch b = StepBatch(prober, region, start, k);
        ASSERT_OK(store->InsertBatch(b).status());
        for (const v1::ProbeResult& r : b.results()) {
          earlier->Observe(r);
        }
      }
      const absl::Time now = start + (k + 1) * kInterval;
      ASSERT_OK(recorder.Record(earlier->Tick(now), config, now));
    }
  }
  const std::string kEvents =
      "SELECT incident_id, kind, floor(extract(epoch FROM at) * 1000000)::bigint, detail"
      " FROM incident_events WHERE incident_id LIKE 'rb/%'";
  ASSERT_OK_AND_ASSIGN(sonde::testing::Db::Rows before,
                       db.Query(absl::StrCat(kEvents, " ORDER BY at, kind")));
  ASSERT_OK_AND_ASSIGN(int64_t last_before,
                       db.Int("SELECT floor(extract(epoch FROM max(at)) * 1000000)::bigint"
                              " FROM incident_events WHERE incident_id LIKE 'rb/%'"));
  // The story: one outage, opened, one check recovered, one region recovered.
  for (const char* kind : {"OPENED", "PROGRESS", "REGIONS_CHANGED"}) {
    EXPECT_EQ(*db.Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE kind = '", kind,
                                   "' AND incident_id LIKE 'rb/%'")),
              1)
        << kind;
  }
  ASSERT_EQ(*db.Int("SELECT count(*) FROM incidents WHERE service = 'rb'"
                    " AND resolved_at IS NULL"),
            1);

  // The new owner gains every shard (the only member), restores the open
  // incident and rebuilds from the stored results.
  common::FakeClock clock(start + kTakeover * kInterval);
  auto b = std::make_unique<DetectingReplica>(conninfo, "b", &clock);
  DetectionRunner& runner = b->runner;
  ASSERT_OK(b->Start(config));
  const uint64_t rebuilt = kTakeover * 3 * 2;  // steps x regions x checks
  auto applied = [&](uint64_t want) {
    sonde::testing::WaitUntil([&] { return runner.detector_stats().results_applied >= want; },
                              std::chrono::seconds(10), std::chrono::milliseconds(20));
    return runner.detector_stats().results_applied;
  };
  ASSERT_EQ(applied(rebuilt), rebuilt) << "the rebuild did not replay the stored results";

  // Then everything recovers; the results reach the owner through the
  // feed, 30 s of them at a time, until the resolve hold (3 min) is over.
  uint64_t stored = rebuilt;
  for (int k = kTakeover; k < kTakeover + 24; k += 3) {
    for (int j = k; j < k + 3; ++j) {
      for (const char* region : kRegions) {
        ASSERT_OK(store->InsertBatch(StepBatch(prober, region, start, j)).status());
        stored += 2;
      }
    }
    sonde::testing::WaitUntil([&] { return runner.detector_stats().results_observed >= stored; },
                              std::chrono::seconds(10), std::chrono::milliseconds(20));
    ASSERT_EQ(runner.detector_stats().results_observed, stored) << "the feed lags";
    clock.Advance(3 * kInterval);
  }
  EXPECT_TRUE(sonde::testing::WaitUntil(
      [&] {
        return *db.Int(
                   "SELECT count(*) FROM incidents WHERE service = 'rb'"
                   " AND resolved_at IS NULL") == 0;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << "the recovery was not recorded";
  b.reset();  // every event it decided is stored

  // Every row recorded before the takeover is still there, once; the new
  // owner added only what it decided after the last of them.
  ASSERT_OK_AND_ASSIGN(sonde::testing::Db::Rows after,
                       db.Query(absl::StrCat(kEvents, " ORDER BY at, kind")));
  ASSERT_OK_AND_ASSIGN(
      sonde::testing::Db::Rows added,
      db.Query(absl::StrCat(kEvents, " AND lease_epoch IS NOT NULL", " ORDER BY at, kind")));
  EXPECT_EQ(after.size(), before.size() + added.size());
  for (const auto& row : added) {
    EXPECT_GT(std::stoll(row[2]), last_before)
        << "the rebuild wrote again what the earlier owner recorded: " << row[1] << " " << row[3];
  }
  ASSERT_OK_AND_ASSIGN(sonde::testing::Db::Rows twice,
                       db.Query("SELECT incident_id, kind, at, count(*) FROM incident_events"
                                " WHERE incident_id LIKE 'rb/%' GROUP BY 1, 2, 3"
                                " HAVING count(*) > 1"));
  EXPECT_THAT(twice, ::testing::IsEmpty()) << "a timeline row written twice";
  EXPECT_EQ(*db.Int("SELECT count(*) FROM incident_events WHERE kind = 'OPENED'"
                    " AND incident_id LIKE 'rb/%'"),
            1);
  EXPECT_EQ(*db.Int("SELECT count(*) FROM incident_events WHERE kind = 'RESOLVED'"
                    " AND incident_id LIKE 'rb/%' AND lease_epoch IS NOT NULL"),
            1);
  // What is new: the last check recovering (after the takeover), then the
  // resolution after the hold.
  std::vector<std::string> added_kinds;
  for (const auto& row : added) {
    added_kinds.push_back(absl::StrCat(row[1], ": ", row[3]));
  }
  EXPECT_THAT(added_kinds, ::testing::ElementsAre("PROGRESS: 2 of 2 checks recovered",
                                                  ::testing::StartsWith("RESOLVED: ")));
}

}  // namespace
}  // namespace sonde::collector
