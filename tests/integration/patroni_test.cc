// PostgreSQL under Patroni (issue 14, acceptance 2; deploy/patroni): three
// etcd members and two Patroni-managed PostgreSQL servers with
// synchronous_mode on loopback (tests/testing/patroni.h: ttl 10 s,
// loop_wait 1 s), a collector given both servers in one multi-host
// connection string with target_session_attrs=read-write, a prober
// streaming 40 results/s. The primary's host "crashes" under ingest
// (SIGKILL of its Patroni, its postmaster and every backend): Patroni
// promotes the synchronous standby, the collector's connections find it
// (the held stream commits, the members heartbeat beats again, the pool's,
// heartbeat's and dispatcher's sessions are on the new primary), and no
// batch the prober had acknowledged is missing: its spool ends empty and
// its run is stored exactly once (count = distinct = max - min + 1).
// Prints kill -> promoted and kill -> ingest resumed (the first batch whose
// transaction began after the kill); the latter must be within ttl + 15 s.
// Skipped, with the reason, where Patroni or etcd is not installed.
// SONDE_PATRONI_TIMING=30,10,10 measures deploy/patroni's timing instead.
#include "tests/testing/patroni.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/cluster.h"
#include "tests/testing/status_matchers.h"

namespace sonde {
namespace {

using sonde::testing::Collector;
using sonde::testing::ConfigBuilder;
using sonde::testing::Db;
using sonde::testing::Faultd;
using sonde::testing::InspectSpool;
using sonde::testing::PatroniCluster;
using sonde::testing::Prober;
using sonde::testing::ScratchDir;
using sonde::testing::SeqSummary;
using sonde::testing::SpoolSnapshot;
using sonde::testing::SummarizeRun;
using sonde::testing::WaitForLiveResults;
using sonde::testing::WaitUntil;
using std::chrono::seconds;

constexpr char kProber[] = "p-fra";

// The test's Patroni timing (tests/testing/patroni.h); for measuring
// another, e.g. deploy/patroni's: SONDE_PATRONI_TIMING=30,10,10 (ttl,
// loop_wait, retry_timeout in seconds).
PatroniCluster::Timing TimingFromEnvironment() {
  PatroniCluster::Timing timing;
  const char* env = std::getenv("SONDE_PATRONI_TIMING");
  if (env == nullptr) {
    return timing;
  }
  std::vector<std::string> parts = absl::StrSplit(env, ',');
  int ttl = 0, loop_wait = 0, retry = 0;
  if (parts.size() == 3 && absl::SimpleAtoi(parts[0], &ttl) &&
      absl::SimpleAtoi(parts[1], &loop_wait) && absl::SimpleAtoi(parts[2], &retry)) {
    timing = {ttl, loop_wait, retry};
  } else {
    ADD_FAILURE() << "SONDE_PATRONI_TIMING=" << env << ": want TTL,LOOP_WAIT,RETRY_TIMEOUT";
  }
  return timing;
}

// Microseconds since the epoch as a SQL timestamptz.
std::string SqlTime(absl::Time t) {
  return absl::StrCat("to_timestamp(", absl::ToUnixMicros(t), " / 1e6)");
}

class PatroniTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && scratch_ != nullptr) {
      sonde::testing::KeepAndPrintLogs(scratch_.get(), collector_.get(), probers_);
      if (cluster_ != nullptr) {
        std::cerr << cluster_->Logs();
      }
    }
    // Processes stop before the scratch directory goes.
    probers_.clear();
    collector_.reset();
    cluster_.reset();
  }

  std::unique_ptr<ScratchDir> scratch_;
  std::unique_ptr<PatroniCluster> cluster_;
  std::unique_ptr<Collector> collector_;
  std::vector<std::unique_ptr<Prober>> probers_;
};

TEST_F(PatroniTest, TheSynchronousStandbyTakesOverUnderIngestAndNoAckedBatchIsLost) {
  if (const std::string why = PatroniCluster::Unavailable(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  scratch_ = std::make_unique<ScratchDir>("patroni");
  ScratchDir& scratch = *scratch_;
  const absl::Time starting = absl::Now();
  // A free port can be taken between FreePort() and a daemon's bind: one
  // more try, on fresh ports, before that counts as a failure.
  absl::Status started;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    cluster_.reset();
    cluster_ = std::make_unique<PatroniCluster>(scratch.Path(absl::StrCat("try", attempt)),
                                                TimingFromEnvironment());
    started = cluster_->Start(seconds(60 + 4 * cluster_->timing().loop_wait_s));
    if (started.ok()) {
      break;
    }
    std::cerr << "cluster start " << attempt << " failed: " << started << "\n";
  }
  ASSERT_OK(started);
  PatroniCluster* cluster = cluster_.get();
  const int primary = cluster->Primary();
  ASSERT_GE(primary, 0);
  const int standby = 1 - primary;
  std::cout << "[ patroni ] etcd x3 + primary pg" << primary + 1 << " + synchronous standby pg"
            << standby + 1 << " up in " << absl::FormatDuration(absl::Now() - starting) << "\n";

  Faultd faultd(scratch.path());
  ASSERT_OK(faultd.Start());
  ConfigBuilder config;
  config.Regions({"fra"}).Defaults("1s", "800ms");
  config.HttpChecks("web", 20, faultd.http_port()).TcpChecks("ssh", 20, faultd.tcp_port());
  const std::string config_path = scratch.Path("sonde.yaml");
  ASSERT_OK(config.WriteTo(config_path));
  collector_ = std::make_unique<Collector>(
      scratch.Path("collector.log"), Collector::Options{cluster->conninfo(), config_path, {}});
  ASSERT_OK(collector_->Start());
  Prober::Options o;
  o.id = kProber;
  o.region = "fra";
  o.spool_dir = scratch.Path("spool");
  o.config_path = config_path;
  probers_.push_back(
      std::make_unique<Prober>(scratch.Path("prober.log"), collector_->address(), o));
  Prober& prober = *probers_[0];
  ASSERT_OK(prober.Start());
  Db db(cluster->conninfo());
  ASSERT_TRUE(WaitForLiveResults(db, {kProber}, absl::Seconds(4), seconds(30)));

  // The primary's host crashes under ingest.
  const absl::Duration ttl = absl::Seconds(cluster->timing().ttl_s);
  const absl::Time killed = absl::Now();
  cluster->KillNode(primary);
  const bool promoted =
      WaitUntil([&] { return cluster->Primary() == standby; },
                seconds(cluster->timing().ttl_s + 15), std::chrono::milliseconds(100));
  const absl::Duration to_promoted = absl::Now() - killed;
  EXPECT_TRUE(promoted) << "Patroni did not promote the synchronous standby\n" << cluster->Logs();

  // Ingest resumes: a batch whose transaction began after the kill (the
  // old primary is dead, so it committed on the new one). received_at is
  // the transaction's start on the database clock, this machine's clock.
  absl::Duration to_resumed = absl::InfiniteDuration();
  WaitUntil(
      [&] {
        absl::StatusOr<int64_t> first = db.Int(
            absl::StrCat("SELECT coalesce(floor(extract(epoch FROM min(received_at)) * 1e6), 0)"
                         " FROM ingested_batches WHERE prober_id = '",
                         kProber, "' AND received_at > ", SqlTime(killed)));
        if (first.ok() && *first > 0) {
          to_resumed = absl::FromUnixMicros(*first) - killed;
          return true;
        }
        return false;
      },
      seconds(cluster->timing().ttl_s + 30));
  std::cout << "[ patroni failover ] kill -> promoted " << absl::FormatDuration(to_promoted)
            << ", kill -> ingest resumed " << absl::FormatDuration(to_resumed) << " (ttl "
            << cluster->timing().ttl_s << " s, loop_wait " << cluster->timing().loop_wait_s
            << " s; bound ttl + 15 s)\n";
  EXPECT_LE(to_resumed, ttl + absl::Seconds(15)) << "ingest did not resume in time";

  // The collector's other connections found the new primary too: the
  // members heartbeat beats again, and the ingest pool's, the heartbeat's
  // and the dispatcher's sessions (by application_name) are on it.
  EXPECT_TRUE(WaitUntil(
      [&] {
        absl::StatusOr<int64_t> n = db.Int(absl::StrCat(
            "SELECT count(*) FROM collector_members WHERE last_seen > ", SqlTime(killed)));
        return n.ok() && *n == 1;
      },
      seconds(15)))
      << "the members heartbeat did not reconnect";
  EXPECT_TRUE(WaitUntil(
      [&] {
        absl::StatusOr<int64_t> n = db.Int(
            "SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE application_name"
            " IN ('sonde-collector', 'sonde-collector-members', 'sonde-notify')");
        return n.ok() && *n == 3;
      },
      seconds(15)))
      << "a collector connection did not reconnect to the new primary";
  // The prober's backlog arrived and its stream is live again.
  EXPECT_TRUE(WaitForLiveResults(db, {kProber}, absl::Seconds(4), seconds(30)));

  // Stopped (SIGTERM: what it holds is acked first), the prober's spool is
  // empty and its run is stored exactly once on the new primary: nothing it
  // had acknowledged was lost with the old one.
  std::optional<int> status = prober.Stop(seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
  ASSERT_OK_AND_ASSIGN(SpoolSnapshot snap, InspectSpool(o.spool_dir));
  EXPECT_EQ(snap.unacked_batches, 0u) << "results left unacked";
  ASSERT_OK_AND_ASSIGN(SeqSummary s, SummarizeRun(db, kProber));
  SCOPED_TRACE(s.ToString());
  EXPECT_GT(s.rows, 40 * 10) << "the prober hardly ran";
  EXPECT_EQ(s.rows, s.distinct) << "a result was stored twice";
  EXPECT_EQ(s.min, s.first_batch_seq) << "the run's first results are missing";
  EXPECT_EQ(static_cast<uint64_t>(s.max), snap.max_result_seq) << "the newest results are missing";
  EXPECT_EQ(s.rows, s.max - s.min + 1) << "acknowledged results are missing";
}

}  // namespace
}  // namespace sonde
