// Cluster mode (--cluster, issue 14; docs/ha.md): three collector replicas
// share one PostgreSQL and shard detection under leases. Every replica's
// acks say so (Ack.spread), so probers given all three (`--collector
// A,B,C`, A first) do not all stay on A: each draws a replica at random at
// its start and moves there once its first batches are acked. Eight
// probers over two regions end up on more than one replica, and each
// one's run is stored exactly once across the move. Asserts on metrics
// and stored rows, never on log text. ~10 s.
//
// Each replica's detector knows only the shards it owns, yet every replica
// answers Query.Status (`sondectl status`) and the status page for every
// service: two replicas, a service down (an open GLOBAL_OUTAGE) in a shard
// one owns and a service up in a shard the other owns; both replicas show
// the same rows, states and open incident. ~30 s.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/cluster/shard_ownership.h"
#include "collector/cluster/shards.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "httplib.h"
#include "sonde/v1/collector.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/cluster_test.h"
#include "tests/testing/status_matchers.h"

namespace sonde {
namespace {

using sonde::testing::Collector;
using sonde::testing::ConfigBuilder;
using sonde::testing::Faultd;
using sonde::testing::FreePort;
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

  // Starts `n` replicas with --cluster (replica ids r1..rn, an HTTP API
  // each: http_ports_) on `config_path`.
  void StartReplicas(const std::string& config_path, int n = kReplicas) {
    for (int i = 0; i < n; ++i) {
      http_ports_.push_back(FreePort());
      replicas_.push_back(std::make_unique<Collector>(
          scratch_->Path(absl::StrCat("collector-", i + 1, ".log")),
          Collector::Options{pg_->conninfo(),
                             config_path,
                             {"--cluster", "--replica-id", absl::StrCat("r", i + 1),
                              "--http-listen", absl::StrCat("127.0.0.1:", http_ports_.back())}}));
      ASSERT_OK(replicas_.back()->Start());
    }
  }

  // Starts one prober per region, each given every replica.
  void StartProbers(const std::string& config_path, const std::vector<std::string>& regions) {
    std::vector<std::string> addresses;
    for (const auto& c : replicas_) {
      addresses.push_back(c->address());
    }
    for (const std::string& region : regions) {
      Prober::Options o;
      o.id = absl::StrCat("p-", region, "-", probers_.size() + 1);
      o.region = region;
      o.spool_dir = scratch_->Path(absl::StrCat("spool-", o.id));
      o.config_path = config_path;
      probers_.push_back(std::make_unique<Prober>(scratch_->Path(absl::StrCat(o.id, ".log")),
                                                  absl::StrJoin(addresses, ","), o));
      ASSERT_OK(probers_.back()->Start());
    }
  }

  // `sondectl status --format json` against replica `i`.
  absl::StatusOr<v1::StatusReply> Status(int i) {
    int rc = -1;
    const std::string json =
        sonde::testing::RunSondectl(replicas_[i]->address(), {"status", "--format", "json"}, &rc);
    v1::StatusReply reply;
    google::protobuf::util::JsonParseOptions lenient;
    lenient.ignore_unknown_fields = true;
    if (rc != 0 || !google::protobuf::util::JsonStringToMessage(json, &reply, lenient).ok()) {
      return absl::UnavailableError(absl::StrCat("sondectl status: ", rc, ": ", json));
    }
    return reply;
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
  std::vector<int> http_ports_;
};

TEST_F(ClusterModeTest, ProbersSpreadOverTheReplicas) {
  ConfigBuilder config;
  config.Regions({"fra", "ams"}).Defaults("1s", "800ms");
  config.HttpChecks("web", 5, faultd_->http_port()).TcpChecks("ssh", 5, faultd_->tcp_port());
  const std::string config_path = scratch_->Path("sonde.yaml");
  ASSERT_OK(config.WriteTo(config_path));
  ASSERT_NO_FATAL_FAILURE(StartReplicas(config_path));

  std::vector<std::string> regions;
  for (int i = 0; i < kProbers; ++i) {
    regions.push_back(i % 2 == 0 ? "fra" : "ams");
  }
  ASSERT_NO_FATAL_FAILURE(StartProbers(config_path, regions));
  std::vector<std::string> ids;
  for (const auto& p : probers_) {
    ids.push_back(p->options().id);
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

// A row of a StatusReply as "check/region=STATE[!incident ids]".
std::set<std::string> Rows(const v1::StatusReply& reply) {
  std::set<std::string> out;
  for (const v1::CheckRegionStatus& r : reply.statuses()) {
    out.insert(absl::StrCat(r.check(), "/", r.region(), "=", r.state(),
                            r.incident_ids().empty() ? "" : "!",
                            absl::StrJoin(r.incident_ids(), ",")));
  }
  return out;
}

TEST_F(ClusterModeTest, EveryReplicaAnswersStatusForEveryShard) {
  // "down" (a TCP check on a closed port: refused from both regions) and an
  // up service whose shard the other replica owns (rendezvous over r1, r2).
  const std::vector<std::string> members = {"r1", "r2"};
  const std::string down_owner =
      collector::cluster::RendezvousOwner(collector::cluster::ShardOf("down"), members);
  std::string up;
  for (int i = 0; up.empty(); ++i) {
    const std::string name = absl::StrCat("up", i);
    if (collector::cluster::RendezvousOwner(collector::cluster::ShardOf(name), members) !=
        down_owner) {
      up = name;
    }
  }
  ConfigBuilder config;
  config.Regions({"fra", "ams"}).Defaults("1s", "800ms");
  config.TcpChecks("down", 1, FreePort()).HttpChecks(up, 1, faultd_->http_port());
  const std::string config_path = scratch_->Path("sonde.yaml");
  ASSERT_OK(config.WriteTo(config_path));
  ASSERT_NO_FATAL_FAILURE(StartReplicas(config_path, 2));
  ASSERT_NO_FATAL_FAILURE(StartProbers(config_path, {"fra", "ams"}));

  // Each service's shard is held by the replica rendezvous names.
  for (const std::string& service : {std::string("down"), up}) {
    const int shard = collector::cluster::ShardOf(service);
    EXPECT_TRUE(WaitUntil(
        [&] {
          absl::StatusOr<sonde::testing::Db::Rows> rows = db_->Query(absl::StrCat(
              "SELECT owner FROM shard_leases WHERE expires_at > clock_timestamp() AND shard = ",
              shard));
          return rows.ok() && rows->size() == 1 &&
                 (*rows)[0][0] == collector::cluster::RendezvousOwner(shard, members);
        },
        seconds(30)))
        << service << "'s shard " << shard << " is not held by its rendezvous owner";
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Int("SELECT count(*) FROM incidents WHERE service = 'down'"
                   " AND resolved_at IS NULL AND cardinality(regions) = 2") == 1;
      },
      seconds(60)))
      << "no incident open for down in both regions";
  absl::StatusOr<sonde::testing::Db::Rows> ids =
      db_->Query("SELECT id FROM incidents WHERE service = 'down' AND resolved_at IS NULL");
  ASSERT_OK(ids);
  ASSERT_EQ(ids->size(), 1u);
  const std::string incident = (*ids)[0][0];

  // Query.Status on either replica: every check x region of both shards,
  // the down rows naming the incident, the open incident listed.
  const std::set<std::string> want = {absl::StrCat("down-0/ams=DOWN!", incident),
                                      absl::StrCat("down-0/fra=DOWN!", incident),
                                      absl::StrCat(up, "-0/ams=UP"), absl::StrCat(up, "-0/fra=UP")};
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<v1::StatusReply> reply;
    EXPECT_TRUE(WaitUntil(
        [&] {
          reply = Status(i);
          return reply.ok() && Rows(*reply) == want && reply->open_incidents_size() == 1;
        },
        seconds(20)))
        << "replica r" << i + 1 << ": "
        << (reply.ok() ? absl::StrJoin(Rows(*reply), " ") : reply.status().ToString());
    if (reply.ok() && reply->open_incidents_size() == 1) {
      EXPECT_EQ(reply->open_incidents(0).id(), incident);
    }
  }

  // Each shard was published by its owner: both replicas count some (a
  // replica that gained its shards a moment ago publishes at its next pass,
  // every 2 s).
  for (const auto& c : replicas_) {
    double published = 0;
    EXPECT_TRUE(WaitUntil(
        [&] {
          absl::StatusOr<sonde::testing::MetricValues> m = c->Metrics();
          published = m.ok() && m->count("sonde_cluster_shard_status_published_total") != 0
                          ? m->at("sonde_cluster_shard_status_published_total")
                          : 0;
          return published > 0;
        },
        seconds(10)))
        << c->address() << " published no shard";
  }
  std::cout << "[ shard_status ] rows " << Int("SELECT count(*) FROM shard_status")
            << ", bytes of the up service's shard (2 check x region rows): "
            << Int(absl::StrCat("SELECT octet_length(status) FROM shard_status WHERE shard = ",
                                collector::cluster::ShardOf(up)))
            << "\n";

  // The status page of either replica: both services, the incident.
  for (int i = 0; i < 2; ++i) {
    std::set<std::string> services, incidents;
    std::string body;
    EXPECT_TRUE(WaitUntil(
        [&] {
          httplib::Client http("127.0.0.1", http_ports_[i]);
          httplib::Result res = http.Get("/status.json");
          google::protobuf::Struct page;
          if (!res || res->status != 200 ||
              !google::protobuf::util::JsonStringToMessage(res->body, &page).ok()) {
            return false;
          }
          body = res->body;
          services.clear();
          incidents.clear();
          for (const auto& g : page.fields().at("groups").list_value().values()) {
            for (const auto& svc : g.struct_value().fields().at("services").list_value().values()) {
              services.insert(svc.struct_value().fields().at("name").string_value());
            }
          }
          for (const auto& inc : page.fields().at("incidents").list_value().values()) {
            incidents.insert(inc.struct_value().fields().at("id").string_value());
          }
          return services == std::set<std::string>{"down", up} && incidents.count(incident) == 1;
        },
        seconds(20)))
        << "replica r" << i + 1 << ": " << body;
  }
}

}  // namespace
}  // namespace sonde
