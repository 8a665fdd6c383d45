// Collector replicas (issue 14, steps a-c): two sonde-collectors share one
// PostgreSQL, both record themselves and agree on the config version
// (/metrics, `sondectl status --collectors`), and one prober is given both
// (`--collector A,B`, A preferred). A, holding the stream, is SIGKILLed:
// results keep being stored through B. A comes back: after B's maximum
// connection age (10 s here) the stream returns to A. At the end every
// result of the prober's run is stored exactly once (the spool resends
// unacked batches to the other replica; the (prober_id, batch_seq) dedup
// absorbs what the dead one had stored but not acked). Asserts on stored
// rows, metrics and sondectl's JSON, never on log text.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "sonde/v1/collector.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/status_matchers.h"

namespace sonde {
namespace {

using sonde::testing::Collector;
using sonde::testing::ConfigBuilder;
using sonde::testing::Db;
using sonde::testing::Faultd;
using sonde::testing::InspectSpool;
using sonde::testing::Postgres;
using sonde::testing::Prober;
using sonde::testing::ScratchDir;
using sonde::testing::SeqSummary;
using sonde::testing::SpoolSnapshot;
using sonde::testing::SummarizeRun;
using sonde::testing::WaitForLiveResults;
using sonde::testing::WaitUntil;
using std::chrono::seconds;

constexpr char kProber[] = "p-fra";

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::make_unique<ScratchDir>("failover");
    pg_ = std::make_unique<Postgres>(scratch_->Path("pg"));
    ASSERT_OK(pg_->Start());
    db_ = std::make_unique<Db>(pg_->conninfo());
    faultd_ = std::make_unique<Faultd>(scratch_->path());
    ASSERT_OK(faultd_->Start());
  }
  void TearDown() override {
    if (HasFailure()) {
      for (size_t i = 0; i < collectors_.size(); ++i) {
        std::vector<std::unique_ptr<Prober>> none;
        sonde::testing::KeepAndPrintLogs(scratch_.get(), collectors_[i].get(),
                                         i == 0 ? probers_ : none);
      }
    }
  }

  // Which replica holds the prober's ingest stream (-1: none, or unreadable).
  int StreamHolder() {
    for (size_t i = 0; i < collectors_.size(); ++i) {
      if (!collectors_[i]->running()) {
        continue;
      }
      absl::StatusOr<sonde::testing::MetricValues> m = collectors_[i]->Metrics();
      if (m.ok() && m->count("sonde_ingest_streams_active") != 0 &&
          m->at("sonde_ingest_streams_active") >= 1) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  // Results the prober started after `since` are stored (through whichever
  // replica is up) and replica `holder` holds its stream.
  bool StoredThrough(int holder, absl::Time since, seconds timeout = seconds(20)) {
    return WaitUntil(
        [&] {
          absl::StatusOr<int64_t> n = db_->Int(absl::StrCat(
              "SELECT count(*) FROM results WHERE prober_id = '", kProber,
              "' AND started_at > to_timestamp(", absl::ToUnixMicros(since), " / 1e6)"));
          return n.ok() && *n > 0 && StreamHolder() == holder;
        },
        timeout);
  }

  std::unique_ptr<ScratchDir> scratch_;
  std::unique_ptr<Postgres> pg_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<Faultd> faultd_;
  std::vector<std::unique_ptr<Collector>> collectors_;
  std::vector<std::unique_ptr<Prober>> probers_;
};

TEST_F(FailoverTest, AProberFailsOverToTheOtherReplicaAndBackLosingAndDoublingNothing) {
  ConfigBuilder config;
  config.Regions({"fra"}).Defaults("1s", "800ms");
  config.HttpChecks("web", 20, faultd_->http_port()).TcpChecks("ssh", 20, faultd_->tcp_port());
  const std::string config_path = scratch_->Path("sonde.yaml");
  ASSERT_OK(config.WriteTo(config_path));
  for (const char* name : {"a", "b"}) {
    collectors_.push_back(std::make_unique<Collector>(
        scratch_->Path(absl::StrCat("collector-", name, ".log")),
        Collector::Options{pg_->conninfo(), config_path, {"--max-connection-age", "10s"}}));
    ASSERT_OK(collectors_.back()->Start());
  }
  // Both replicas are members, run the one recorded config version and
  // say so on /metrics and through `sondectl status --collectors`.
  for (const auto& c : collectors_) {
    EXPECT_TRUE(WaitUntil(
        [&] {
          absl::StatusOr<sonde::testing::MetricValues> m = c->Metrics();
          return m.ok() && m->count("sonde_cluster_members_live") != 0 &&
                 m->at("sonde_cluster_members_live") == 2 &&
                 m->at("sonde_cluster_config_in_step") == 1 &&
                 m->at("sonde_config_version_info") == 1;
        },
        seconds(15)))
        << c->address();
  }
  int rc = -1;
  const std::string json = sonde::testing::RunSondectl(
      collectors_[1]->address(), {"status", "--collectors", "--format", "json"}, &rc);
  ASSERT_EQ(rc, 0) << json;
  v1::CollectorsReply members;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &members).ok()) << json;
  ASSERT_EQ(members.members_size(), 2) << json;
  EXPECT_FALSE(members.recorded_config_version().empty());
  for (const v1::CollectorMember& m : members.members()) {
    EXPECT_TRUE(m.live()) << json;
    EXPECT_TRUE(m.in_step()) << json;
    EXPECT_EQ(m.config_version(), members.recorded_config_version());
    if (m.replica_id() == members.answered_by()) {
      EXPECT_EQ(m.address(), collectors_[1]->address()) << "answered by another replica";
    }
  }

  Prober::Options o;
  o.id = kProber;
  o.region = "fra";
  o.spool_dir = scratch_->Path("spool");
  o.config_path = config_path;
  probers_.push_back(std::make_unique<Prober>(
      scratch_->Path("prober.log"),
      absl::StrCat(collectors_[0]->address(), ",", collectors_[1]->address()), o));
  ASSERT_OK(probers_[0]->Start());
  ASSERT_TRUE(WaitForLiveResults(*db_, {kProber}, absl::Seconds(4), seconds(30)));
  // The first listed replica is preferred.
  ASSERT_TRUE(WaitUntil([&] { return StreamHolder() == 0; }, seconds(10)));

  // It dies: the other one takes the stream.
  collectors_[0]->Kill();
  const absl::Time killed = absl::Now();
  EXPECT_TRUE(StoredThrough(1, killed)) << "nothing stored through the other replica";
  std::cout << "replica A killed -> results stored through B within "
            << absl::FormatDuration(absl::Now() - killed) << "\n";

  // It comes back: B ends the connection after its maximum age (10 s +-10 %,
  // then 10 s for the stream) and the prober returns to A.
  ASSERT_OK(collectors_[0]->Start());
  const absl::Time back = absl::Now();
  EXPECT_TRUE(StoredThrough(0, back, seconds(40))) << "the stream did not return to A";
  std::cout << "replica A back -> stream returned to A within "
            << absl::FormatDuration(absl::Now() - back) << "\n";
  absl::SleepFor(absl::Seconds(2));

  // Stopped (SIGTERM: it gets what it holds acked first), its one run is
  // stored exactly once: no batch lost, none stored twice.
  std::optional<int> status = probers_[0]->Stop(seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
  ASSERT_OK_AND_ASSIGN(SpoolSnapshot snap, InspectSpool(o.spool_dir));
  EXPECT_EQ(snap.unacked_batches, 0u) << "results left unacked";
  ASSERT_OK_AND_ASSIGN(SeqSummary s, SummarizeRun(*db_, kProber));
  SCOPED_TRACE(s.ToString());
  EXPECT_GT(s.rows, 40 * 6) << "the prober hardly ran";
  EXPECT_EQ(s.rows, s.distinct) << "a result was stored twice";
  EXPECT_EQ(s.min, s.first_batch_seq) << "the run's first results are missing";
  EXPECT_EQ(static_cast<uint64_t>(s.max), snap.max_result_seq) << "the newest results are missing";
  EXPECT_EQ(s.rows, s.max - s.min + 1) << "results are missing inside the run";
}

}  // namespace
}  // namespace sonde
