// Detection in cluster mode (DetectionRunner::EnableSharding; docs/ha.md):
// a replica that gains a shard continues the shard's open incident under
// its id (no second OPENED), records what it decides under the shard's
// lease (rows carry the epoch), and, when another replica took the shard
// over behind its back, writes nothing, counts the fenced write and drops
// the shard at once. Shipped detection settings; a fake clock stands in
// for the minutes of the resolve hold. And the owner's results come from
// PostgreSQL: a rebuild from stored results, then the result feed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/cluster/shards.h"
#include "collector/incidents/detection.h"
#include "collector/incidents/incident_store.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/store.h"
#include "common/clock.h"
#include "common/config/config.h"
#include "tests/integration/collector/incidents/detecting_replica.h"
#include "tests/testing/cluster.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/probe_results.h"
#include "tests/testing/status_matchers.h"

namespace sonde::collector {
namespace {

// The PostgreSQL server is registered once for the binary, in
// incident_store_test.cc.

const absl::Time kStart = absl::FromUnixSeconds(1763715600);

detect::Incident OpenIncident(const std::string& service, absl::Time opened) {
  detect::Incident i;
  i.id = absl::StrCat(service, "/GLOBAL_OUTAGE/", absl::ToUnixSeconds(opened));
  i.kind = detect::IncidentKind::kGlobalOutage;
  i.severity = detect::Severity::kPage;
  i.service = service;
  i.checks = {service + "-home"};
  i.regions = {"ams", "fra"};
  i.hosts = {service + ".example"};
  i.protocol = "http";
  i.dominant_class = v1::FailureClass::HTTP_STATUS;
  i.failing_share = 1;
  i.affected_targets = 1;
  i.evidence = "503";
  i.opened_at = opened;
  i.updated_at = opened;
  return i;
}

TEST(ShardedDetectionTest, AGainedShardContinuesItsIncidentAndAFencedWriteLandsNothing) {
  const std::string conninfo = sonde::testing::PostgresEnvironment::conninfo();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, Store::Connect(conninfo));
  ASSERT_OK(store->Migrate());
  sonde::testing::Db db(conninfo);
  ASSERT_OK_AND_ASSIGN(pg::PgConnPtr conn, pg::Connect(conninfo, "sharded-detection-test"));
  auto exec = [&](const std::string& sql) { return pg::Exec(conn.get(), sql, "test").status(); };
  ASSERT_OK(
      exec("TRUNCATE outbox, incident_events, incidents, shard_leases,"
           " collector_members, cluster_config"));
  // Two services in two shards.
  const int app = cluster::ShardOf("app");
  const int web = cluster::ShardOf("web");
  ASSERT_NE(app, web);
  ASSERT_OK_AND_ASSIGN(
      v1::Config config,
      common::ParseConfig(
          "regions: [ams, fra]\n"
          "checks:\n"
          "  - {name: app-home, service: app, http: {url: 'http://app.example/'}}\n"
          "  - {name: web-home, service: web, http: {url: 'http://web.example/'}}\n",
          "cluster.yaml"));

  // Both incidents were opened by an earlier owner (no fence: epoch NULL).
  IncidentStore earlier(conninfo);
  const detect::Incident app_inc = OpenIncident("app", kStart - absl::Minutes(1));
  const detect::Incident web_inc = OpenIncident("web", kStart - absl::Minutes(1));
  for (const detect::Incident& i : {app_inc, web_inc}) {
    detect::IncidentEvent e;
    e.kind = detect::IncidentEventKind::kOpened;
    e.incident_id = i.id;
    e.at = i.opened_at;
    e.incident = i;
    ASSERT_OK(earlier.Record({e}, config, i.opened_at));
  }

  common::FakeClock clock(kStart);
  DetectingReplica a(conninfo, "a", &clock);
  cluster::ShardOwnership& shards = a.shards;
  DetectionRunner& runner = a.runner;
  ASSERT_OK(a.Start(config));
  ASSERT_EQ(shards.Owned().size(), static_cast<size_t>(cluster::kShardCount));
  const int64_t epoch = *shards.EpochOf(web);

  // The gained shards restore their open incidents: same ids, no OPENED.
  std::vector<std::string> open;
  for (int i = 0; i < 100 && open.size() < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    open.clear();
    for (const detect::Incident& inc : runner.TakeSnapshot("", "", "").open) {
      open.push_back(inc.id);
    }
  }
  EXPECT_THAT(open, ::testing::UnorderedElementsAre(app_inc.id, web_inc.id));
  EXPECT_EQ(*db.Int("SELECT count(*) FROM incident_events WHERE kind = 'OPENED'"), 2);

  // Another replica takes app's shard over behind a's back (a is "paused":
  // its ownership loop does not run).
  ASSERT_OK(exec(absl::StrCat("UPDATE shard_leases SET owner = 'b', epoch = epoch + 1",
                              " WHERE shard = ", app)));
  // Neither incident is seen again: both resolve after the resolve hold.
  clock.Advance(absl::Minutes(5));
  for (int i = 0; i < 100 && shards.EpochOf(app).has_value(); ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_FALSE(shards.EpochOf(app).has_value()) << "a fenced shard was kept";
  EXPECT_EQ(shards.fenced_writes(), 1);
  for (int i = 0; i < 100 && *db.Int("SELECT count(*) FROM incidents WHERE resolved_at IS NOT NULL"
                                     " AND service = 'web'") == 0;
       ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  // web's resolution landed under a's lease; app's landed nothing.
  EXPECT_EQ(*db.Int(absl::StrCat("SELECT count(*) FROM incidents WHERE service = 'web'"
                                 " AND resolved_at IS NOT NULL AND lease_epoch = ",
                                 epoch)),
            1);
  EXPECT_EQ(*db.Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE kind = 'RESOLVED'"
                                 " AND incident_id = '",
                                 web_inc.id, "' AND lease_epoch = ", epoch)),
            1);
  EXPECT_EQ(*db.Int("SELECT count(*) FROM incidents WHERE service = 'app'"
                    " AND resolved_at IS NULL AND lease_epoch IS NULL"),
            1);
  EXPECT_EQ(*db.Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE incident_id = '",
                                 app_inc.id, "'")),
            1)
      << "a write of the lost shard landed";
  EXPECT_EQ(*db.Int("SELECT count(*) FROM outbox WHERE event = 'RESOLVED'"), 0)
      << "no notifier is configured";
  // The dropped shard is gone from this replica's view.
  for (const detect::Incident& inc : runner.TakeSnapshot("", "", "").open) {
    EXPECT_NE(inc.service, "app");
  }
}

// Three results of web-home in fra from prober `prober`, started `start`.
v1::ResultBatch WebBatch(const std::string& prober, uint64_t batch_seq, absl::Time start) {
  v1::ResultBatch b;
  b.set_prober_id(prober);
  b.set_region("fra");
  b.set_batch_seq(batch_seq);
  for (int k = 0; k < 3; ++k) {
    *b.add_results() = sonde::testing::HttpResult("web-home", "web", prober, "fra",
                                                  batch_seq * 10 + k, start + absl::Seconds(k));
  }
  return b;
}

// In cluster mode the owner's detector is fed from PostgreSQL, whichever
// replica stored the results: a gained shard is rebuilt from the stored
// results of its checks, then follows the result feed; the replica's own
// ingest (Observe) is not evaluated twice.
TEST(ShardedDetectionTest, AGainedShardIsRebuiltFromStoredResultsAndFollowsTheFeed) {
  const std::string conninfo = sonde::testing::PostgresEnvironment::conninfo();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, Store::Connect(conninfo));
  ASSERT_OK(store->Migrate());
  ASSERT_OK_AND_ASSIGN(pg::PgConnPtr conn, pg::Connect(conninfo, "sharded-feed-test"));
  ASSERT_OK(pg::Exec(conn.get(), "TRUNCATE shard_leases, collector_members, cluster_config", "t")
                .status());
  ASSERT_OK_AND_ASSIGN(
      v1::Config config,
      common::ParseConfig(
          "regions: [fra]\n"
          "checks:\n"
          "  - {name: web-home, service: web, http: {url: 'http://web.example/'}}\n",
          "feed.yaml"));
  const std::string prober = absl::StrCat("feed-prober-", absl::ToUnixNanos(absl::Now()));
  // Stored before this replica owns anything (by another replica, say).
  ASSERT_OK(store->InsertBatch(WebBatch(prober, 1, absl::Now() - absl::Minutes(2))).status());

  DetectingReplica a(conninfo, "a", common::RealClock());
  DetectionRunner& runner = a.runner;
  ASSERT_OK(a.Start(config));
  auto observed = [&](uint64_t want) {
    for (int i = 0; i < 100 && runner.detector_stats().results_observed < want; ++i) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    return runner.detector_stats().results_observed;
  };
  EXPECT_EQ(observed(3), 3u) << "the rebuild did not read the stored results";

  // Stored after the gain: the feed brings it.
  ASSERT_OK(store->InsertBatch(WebBatch(prober, 2, absl::Now() - absl::Seconds(5))).status());
  EXPECT_EQ(observed(6), 6u) << "the feed did not bring a batch stored after the gain";
  // This replica's own ingest is not a second source in cluster mode.
  runner.Observe(WebBatch(prober, 3, absl::Now()));
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(runner.detector_stats().results_observed, 6u);
}

}  // namespace
}  // namespace sonde::collector
