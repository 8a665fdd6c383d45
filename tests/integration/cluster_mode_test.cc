// Cluster mode (--cluster, issue 14; docs/ha.md): three collector replicas
// share one PostgreSQL and shard detection under leases. Every replica's
// acks say so (Ack.spread), so probers given all three (`--collector
// A,B,C`, A first) do not all stay on A: each draws a replica at random at
// its start and moves there once its first batches are acked. Eight
// probers over two regions end up on more than one replica, and each
// one's run is stored exactly once across the move. Asserts on metrics
// and stored rows, never on log text. ~30 s.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/cluster.h"
#include "tests/testing/cluster_test.h"
#include "tests/testing/status_matchers.h"

namespace sonde {
namespace {

using sonde::testing::Collector;
using sonde::testing::ConfigBuilder;
using sonde::testing::Faultd;
using sonde::testing::InspectSpool;
using sonde::testing::Prober;
using sonde::testing::SeqSummary;
using sonde::testing::SpoolSnapshot;
using sonde::testing::SummarizeRun;
using sonde::testing::WaitUntil;
using std::chrono::seconds;

constexpr int kReplicas = 3;
// All eight on one replica by chance: 3 * (1/3)^8, once in ~2,200 runs.
constexpr int kProbers = 8;

class ClusterModeTest : public sonde::testing::ClusterTest {
 protected:
  ClusterModeTest() : ClusterTest("cluster_mode") {}

  void SetUp() override {
    ClusterTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    faultd_ = std::make_unique<Faultd>(scratch_->path());
    ASSERT_OK(faultd_->Start());
  }
  void PrintMoreEvidence() override {
    for (size_t i = 0; i < replicas_.size(); ++i) {
      std::cerr << "---- replica " << i + 1 << " log (tail) ----\n";
      const std::string log = replicas_[i]->Log();
      std::cerr << log.substr(log.size() > 4000 ? log.size() - 4000 : 0) << "\n";
    }
  }
  void StopMore() override { replicas_.clear(); }

  // Starts kReplicas replicas with --cluster (replica ids r1..r3) on
  // `config_path`.
  void StartReplicas(const std::string& config_path) {
    for (int i = 0; i < kReplicas; ++i) {
      replicas_.push_back(std::make_unique<Collector>(
          scratch_->Path(absl::StrCat("collector-", i + 1, ".log")),
          Collector::Options{pg_->conninfo(),
                             config_path,
                             {"--cluster", "--replica-id", absl::StrCat("r", i + 1)}}));
      ASSERT_OK(replicas_.back()->Start());
    }
  }

  // Ingest streams open on each replica (sonde_ingest_streams_active).
  std::vector<int> Streams() {
    std::vector<int> out;
    for (const auto& c : replicas_) {
      absl::StatusOr<sonde::testing::MetricValues> m = c->Metrics();
      out.push_back(m.ok() && m->count("sonde_ingest_streams_active") != 0
                        ? static_cast<int>(m->at("sonde_ingest_streams_active"))
                        : 0);
    }
    return out;
  }

  std::unique_ptr<Faultd> faultd_;
  std::vector<std::unique_ptr<Collector>> replicas_;
};

TEST_F(ClusterModeTest, ProbersSpreadOverTheReplicas) {
  ConfigBuilder config;
  config.Regions({"fra", "ams"}).Defaults("1s", "800ms");
  config.HttpChecks("web", 5, faultd_->http_port()).TcpChecks("ssh", 5, faultd_->tcp_port());
  const std::string config_path = scratch_->Path("sonde.yaml");
  ASSERT_OK(config.WriteTo(config_path));
  ASSERT_NO_FATAL_FAILURE(StartReplicas(config_path));

  std::vector<std::string> addresses;
  for (const auto& c : replicas_) {
    addresses.push_back(c->address());
  }
  std::vector<std::string> ids;
  for (int i = 0; i < kProbers; ++i) {
    Prober::Options o;
    o.id = absl::StrCat("p", i + 1);
    o.region = i % 2 == 0 ? "fra" : "ams";
    o.spool_dir = scratch_->Path(absl::StrCat("spool-", i + 1));
    o.config_path = config_path;
    ids.push_back(o.id);
    probers_.push_back(std::make_unique<Prober>(scratch_->Path(absl::StrCat(o.id, ".log")),
                                                absl::StrJoin(addresses, ","), o));
    ASSERT_OK(probers_.back()->Start());
  }
  ASSERT_TRUE(sonde::testing::WaitForLiveResults(*db_, ids, absl::Seconds(4), seconds(60)));

  // Every prober streams (once it moved, one stream each) and more than
  // one replica holds streams.
  std::vector<int> streams;
  const bool spread = WaitUntil(
      [&] {
        streams = Streams();
        int total = 0, holding = 0;
        for (int n : streams) {
          total += n;
          holding += n > 0 ? 1 : 0;
        }
        return total == kProbers && holding > 1;
      },
      seconds(30));
  std::cout << "[ spread ] streams per replica: " << absl::StrJoin(streams, " ") << "\n";
  EXPECT_TRUE(spread) << "streams per replica: " << absl::StrJoin(streams, " ");

  // Results keep flowing after the moves; each prober's run is stored
  // exactly once (the move resent nothing twice, lost nothing).
  const absl::Time moved = absl::Now();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Int(absl::StrCat("SELECT count(DISTINCT prober_id) FROM results WHERE started_at > "
                                "to_timestamp(",
                                absl::ToUnixMicros(moved), " / 1e6)")) == kProbers;
      },
      seconds(20)));
  for (size_t i = 0; i < probers_.size(); ++i) {
    std::optional<int> status = probers_[i]->Stop(seconds(20));
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(*status, 0);
    ASSERT_OK_AND_ASSIGN(SpoolSnapshot snap, InspectSpool(probers_[i]->options().spool_dir));
    EXPECT_EQ(snap.unacked_batches, 0u) << ids[i] << ": results left unacked";
    ASSERT_OK_AND_ASSIGN(SeqSummary s, SummarizeRun(*db_, ids[i]));
    SCOPED_TRACE(ids[i] + ": " + s.ToString());
    EXPECT_EQ(s.rows, s.distinct) << "a result was stored twice";
    EXPECT_EQ(s.min, s.first_batch_seq) << "the run's first results are missing";
    EXPECT_EQ(static_cast<uint64_t>(s.max), snap.max_result_seq) << "the newest are missing";
    EXPECT_EQ(s.rows, s.max - s.min + 1) << "results are missing inside the run";
  }
}

}  // namespace
}  // namespace sonde
