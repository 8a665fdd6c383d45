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
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/cluster/shard_leases.h"
#include "collector/cluster/shards.h"
#include "collector/detect/detector.h"
#include "collector/incidents/detection.h"
#include "collector/incidents/incident_store.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/store.h"
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

// The PostgreSQL server is registered once for the binary, in
// incident_store_test.cc.

constexpr absl::Duration kInterval = kStepInterval;
const char* const kRegions[] = {"ams", "ber", "fra"};

// The config of `service`: two checks, <service>-home and <service>-api,
// every 10 s in three regions.
v1::Config ConfigOf(const std::string& service) {
  absl::StatusOr<v1::Config> config =
      common::ParseConfig(absl::StrCat("regions: [ams, ber, fra]\n"
                                       "checks:\n"
                                       "  - {name: ",
                                       service, "-home, service: ", service,
                                       ", interval: 10s, http: {url: 'http://example.org/'}}\n"
                                       "  - {name: ",
                                       service, "-api, service: ", service,
                                       ", interval: 10s, http: {url: 'http://example.org/api'}}\n"),
                          "rebuild.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : v1::Config();
}

// Stores steps [from, to) of every region, as any replica's ingest does;
// `owner` (may be null) observes them too.
absl::Status StoreSteps(Store* store, const v1::Config& config, const std::string& prober,
                        absl::Time start, int from, int to, const Failing& fails,
                        detect::Detector* owner = nullptr) {
  for (int k = from; k < to; ++k) {
    for (const char* region : kRegions) {
      const v1::ResultBatch b = StepBatch(config, prober, region, start, k, fails);
      RETURN_IF_ERROR(store->InsertBatch(b).status());
      for (const v1::ProbeResult& r : b.results()) {
        if (owner != nullptr) {
          owner->Observe(r);
        }
      }
    }
  }
  return absl::OkStatus();
}

// The owner before the takeover: the same Detector over the same results,
// recording what it decides step by step as results come, for steps
// [0, to). Under `fence` (may be null: epoch NULL) it also records how far
// it recorded, as DetectionRunner does.
absl::Status RunEarlierOwner(Store* store, const v1::Config& config, const std::string& prober,
                             absl::Time start, int to, const Failing& fails,
                             const cluster::LeaseFence* fence) {
  ASSIGN_OR_RETURN(std::unique_ptr<detect::Detector> earlier,
                   detect::Detector::Create(detect::WithConfig({}, config.detection())));
  RETURN_IF_ERROR(earlier->SetConfig(config, start));
  IncidentStore recorder(sonde::testing::PostgresEnvironment::conninfo());
  ASSIGN_OR_RETURN(pg::PgConnPtr conn,
                   pg::Connect(sonde::testing::PostgresEnvironment::conninfo(), "earlier-owner"));
  for (int k = 0; k < to; ++k) {
    RETURN_IF_ERROR(StoreSteps(store, config, prober, start, k, k + 1, fails, earlier.get()));
    const absl::Time now = start + (k + 1) * kInterval;
    const std::vector<detect::IncidentEvent> events = earlier->Tick(now);
    RETURN_IF_ERROR(recorder.Record(events, config, now, fence, earlier->processed_until()));
    if (fence != nullptr && events.empty()) {
      RETURN_IF_ERROR(cluster::ShardLeases().MarkRecorded(
          conn.get(), fence->owner, {{fence->shard, fence->epoch, earlier->processed_until()}}));
    }
  }
  return absl::OkStatus();
}

// Both checks everywhere from step 6; rb-api recovers at step 15
// (PROGRESS), rb-home in fra at step 24 (REGIONS_CHANGED); everything from
// step 36.
bool RbFails(const std::string& check, const std::string& region, int k) {
  if (k < 6 || k >= 36) {
    return false;
  }
  if (check == "rb-api") {
    return k < 15;
  }
  return region != "fra" || k < 24;
}

using RebuildTimelineTest = StoredStepsTest;

// The earlier owner left no recorded_until (unfenced, or a collector before
// migration 11): the incident's last recorded change decides.
TEST_F(RebuildTimelineTest, ANewOwnersRebuildWritesNoTimelineRowTwice) {
  const v1::Config config = ConfigOf("rb");
  constexpr int kTakeover = 36;  // the new owner gains the shard at this step
  ASSERT_OK(RunEarlierOwner(store_.get(), config, prober_, start_, kTakeover, RbFails, nullptr));
  const std::string kEvents =
      "SELECT incident_id, kind, floor(extract(epoch FROM at) * 1000000)::bigint, detail"
      " FROM incident_events WHERE incident_id LIKE 'rb/%'";
  ASSERT_OK_AND_ASSIGN(sonde::testing::Db::Rows before,
                       db_.Query(absl::StrCat(kEvents, " ORDER BY at, kind")));
  ASSERT_OK_AND_ASSIGN(int64_t last_before,
                       db_.Int("SELECT floor(extract(epoch FROM max(at)) * 1000000)::bigint"
                               " FROM incident_events WHERE incident_id LIKE 'rb/%'"));
  // The story: one outage, opened, one check recovered, one region recovered.
  for (const char* kind : {"OPENED", "PROGRESS", "REGIONS_CHANGED"}) {
    EXPECT_EQ(*db_.Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE kind = '", kind,
                                    "' AND incident_id LIKE 'rb/%'")),
              1)
        << kind;
  }
  ASSERT_EQ(*db_.Int("SELECT count(*) FROM incidents WHERE service = 'rb'"
                     " AND resolved_at IS NULL"),
            1);

  // The new owner gains every shard (the only member), restores the open
  // incident and rebuilds from the stored results.
  common::FakeClock clock(start_ + kTakeover * kInterval);
  auto b = std::make_unique<DetectingReplica>(conninfo_, "b", &clock);
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
        ASSERT_OK(
            store_->InsertBatch(StepBatch(config, prober_, region, start_, j, RbFails)).status());
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
        return *db_.Int(
                   "SELECT count(*) FROM incidents WHERE service = 'rb'"
                   " AND resolved_at IS NULL") == 0;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << "the recovery was not recorded";
  b.reset();  // every event it decided is stored

  // Every row recorded before the takeover is still there, once; the new
  // owner added only what it decided after the last of them.
  ASSERT_OK_AND_ASSIGN(sonde::testing::Db::Rows after,
                       db_.Query(absl::StrCat(kEvents, " ORDER BY at, kind")));
  ASSERT_OK_AND_ASSIGN(
      sonde::testing::Db::Rows added,
      db_.Query(absl::StrCat(kEvents, " AND lease_epoch IS NOT NULL", " ORDER BY at, kind")));
  EXPECT_EQ(after.size(), before.size() + added.size());
  for (const auto& row : added) {
    EXPECT_GT(std::stoll(row[2]), last_before)
        << "the rebuild wrote again what the earlier owner recorded: " << row[1] << " " << row[3];
  }
  ASSERT_OK_AND_ASSIGN(sonde::testing::Db::Rows twice,
                       db_.Query("SELECT incident_id, kind, at, count(*) FROM incident_events"
                                 " WHERE incident_id LIKE 'rb/%' GROUP BY 1, 2, 3"
                                 " HAVING count(*) > 1"));
  EXPECT_THAT(twice, ::testing::IsEmpty()) << "a timeline row written twice";
  EXPECT_EQ(*db_.Int("SELECT count(*) FROM incident_events WHERE kind = 'OPENED'"
                     " AND incident_id LIKE 'rb/%'"),
            1);
  EXPECT_EQ(*db_.Int("SELECT count(*) FROM incident_events WHERE kind = 'RESOLVED'"
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

// The earlier owner (under its lease) dies at step 12; an outage starts at
// step 13 while its lease runs out and opens at step 14, before the new
// owner gains the shard (step 21): nobody evaluated it live. The new
// owner's rebuild decides it, and writes it once: after the shard's
// recorded_until (the earlier owner's last evaluated instant), not before
// the gain minus the reorder window.
TEST_F(RebuildTimelineTest, AnIncidentOpenedInTheHandoverGapIsRecordedOnce) {
  const v1::Config config = ConfigOf("gap");
  const Failing fails = [](const std::string& check, const std::string&, int k) {
    return check == "gap-home" && k >= 13;
  };
  constexpr int kDeath = 12;
  constexpr int kGain = 21;
  ASSERT_OK_AND_ASSIGN(pg::PgConnPtr conn, pg::Connect(conninfo_, "earlier-lease"));
  const int shard = cluster::ShardOf("gap");
  ASSERT_OK_AND_ASSIGN(std::optional<cluster::ShardLease> lease,
                       cluster::ShardLeases().Acquire(conn.get(), shard, "a"));
  ASSERT_TRUE(lease.has_value());
  const cluster::LeaseFence fence{shard, "a", lease->epoch};
  ASSERT_OK(RunEarlierOwner(store_.get(), config, prober_, start_, kDeath, fails, &fence));
  ASSERT_OK(StoreSteps(store_.get(), config, prober_, start_, kDeath, kGain, fails));
  ASSERT_EQ(*db_.Int("SELECT count(*) FROM incident_events"), 0);
  ASSERT_OK(db_.Query("UPDATE shard_leases SET expires_at = clock_timestamp() WHERE owner = 'a'")
                .status());

  common::FakeClock clock(start_ + kGain * kInterval);
  auto b = std::make_unique<DetectingReplica>(conninfo_, "b", &clock);
  ASSERT_OK(b->Start(config));
  EXPECT_TRUE(sonde::testing::WaitUntil(
      [&] { return *db_.Int("SELECT count(*) FROM incident_events") > 0; },
      std::chrono::seconds(10), std::chrono::milliseconds(50)))
      << "the outage that opened in the handover gap was not recorded";
  ASSERT_OK_AND_ASSIGN(
      int64_t epoch, db_.Int(absl::StrCat("SELECT epoch FROM shard_leases WHERE shard = ", shard)));
  b.reset();
  // Opened before the gain minus the reorder window (2 s), by the new owner.
  EXPECT_EQ(
      *db_.Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE kind = 'OPENED'"
                            " AND incident_id LIKE 'gap/%' AND lease_epoch = ",
                            epoch, " AND at < '",
                            pg::Timestamp(start_ + kGain * kInterval - absl::Seconds(2)), "'")),
      1);
  EXPECT_EQ(*db_.Int("SELECT count(*) FROM incident_events"), 1);
}

}  // namespace
}  // namespace sonde::collector
