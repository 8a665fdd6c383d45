// The `cluster` test (issue 14, acceptance 1): three sonde-collector
// replicas on one PostgreSQL, three probers (fra/ams/ber on 127.0.0.2/.3/.4)
// given all three replicas (--collector a,b,c), the scenario harness's
// targets (sonde-faultd) and webhook receiver, and the shipped detection
// defaults. Label `cluster`: `ctest -L cluster`.
//
// ClusterTest is the frame every bullet of acceptance 1 runs in:
// StartCluster() (targets, replicas, probers, two services in different
// detection shards), the faults (a regional outage of `shop` from ber, a
// partial failure of a quarter of `api`'s logins), and the checks every
// bullet ends with: every incident opened and paged once
// (ExpectEveryIncidentPagedOnce), every (prober_id, seq) stored exactly once
// (ExpectEveryResultStoredOnce) and the replay oracle
// (ExpectSameIncidentsAsOneCollector: the stored results replayed through
// one Detector give the incident kinds and scopes the cluster stored).
//
// Built: SIGKILL of the replica holding most streams, mid-run; and, with
// the replicas in --cluster (sharded detection under leases), one run that
// SIGKILLs the owner of the shard with an open incident, SIGSTOPs the next
// owner past its lease with a write in flight, SIGKILLs the replica
// delivering the RESOLVED before its commit, and ends with the replay
// oracle across those handovers. Each prints its times: `[ handover ]`,
// `[ fenced ]`, `[ delivery ]`.
#include "tests/testing/cluster.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/cluster/shards.h"
#include "tests/scenarios/replay_oracle.h"
#include "tests/scenarios/scenario_harness.h"
#include "tests/testing/status_matchers.h"

namespace sonde::scenarios {
namespace {

using sonde::testing::WaitUntil;
using std::chrono::seconds;

constexpr int kReplicas = 3;
constexpr char kDomain[] = "cluster.test";
// The shipped lease TTL (collector/cluster/shard_leases.h).
constexpr absl::Duration kLeaseTtl = absl::Seconds(15);

// Whether process `pid` holds the TCP connection from 127.0.0.1:`client_port`
// to 127.0.0.1:`server_port`: /proc/net/tcp names the socket's inode,
// /proc/<pid>/fd the process holding it.
bool OwnsConnection(int pid, int client_port, int server_port) {
  std::ifstream tcp("/proc/net/tcp");
  const std::string local = absl::StrFormat("0100007F:%04X", client_port);
  const std::string remote = absl::StrFormat("0100007F:%04X", server_port);
  std::string inode;
  std::string line;
  while (inode.empty() && std::getline(tcp, line)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() > 9 && f[1] == local && f[2] == remote) {
      inode = f[9];
    }
  }
  if (inode.empty() || inode == "0") {
    return false;
  }
  const std::string socket = absl::StrCat("socket:[", inode, "]");
  std::error_code ec;
  for (const auto& fd :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec)) {
    std::error_code unreadable;
    if (std::filesystem::read_symlink(fd.path(), unreadable).string() == socket) {
      return true;
    }
  }
  return false;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scenario_ =
        std::make_unique<Scenario>(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    scenario_->DumpOnFailure();
    scenario_.reset();
  }

  // Two services in different detection shards (collector/cluster/shards.h):
  // shop-web and shop-cart, api-login and api-home (three requests per run,
  // so a partial failure shows within a minute).
  void StartCluster(Scenario::Detection detection = Scenario::Detection::kEveryReplica) {
    ASSERT_NE(collector::cluster::ShardOf("shop"), collector::cluster::ShardOf("api"));
    Scenario& s = *scenario_;
    FaultTarget::Options fo;
    fo.rules_json = Rules({Zone(kDomain)});
    ASSERT_OK(s.StartTargets(fo));
    const int http = s.faultd().port("http");
    const std::string dns = s.faultd().resolver();
    auto url = [&](const std::string& host, const std::string& path) {
      return absl::StrCat("http://", host, ".", kDomain, ":", http, path);
    };
    ScenarioConfig c;
    c.Check(HttpCheck("shop-web", "shop", url("shop", "/"), dns))
        .Check(HttpCheck("shop-cart", "shop", url("shop", "/cart"), dns))
        .Check(HttpCheck("api-login", "api", url("api", "/login"), dns, ", requests_per_run: 3"))
        .Check(HttpCheck("api-home", "api", url("api", "/"), dns, ", requests_per_run: 3"))
        .Notifier(Webhook(s, "oncall", "/hook"));
    ASSERT_OK(s.StartSonde(c, kReplicas, detection));
    for (const auto& p : s.probers()) {
      run_started_.push_back(p->started_micros());
    }
  }

  // Ingest streams per replica (sonde_ingest_streams_active; 0 for a
  // replica that is down or does not answer).
  std::vector<int> Streams() {
    std::vector<int> out;
    for (const auto& c : scenario_->collectors()) {
      int n = 0;
      if (c->running()) {
        absl::StatusOr<testing::MetricValues> m = c->Metrics();
        if (m.ok() && m->count("sonde_ingest_streams_active") != 0) {
          n = static_cast<int>(m->at("sonde_ingest_streams_active"));
        }
      }
      out.push_back(n);
    }
    return out;
  }
  // The replica holding most streams once all probers are connected
  // (-1 if they are not within `timeout`).
  int BusiestReplica(seconds timeout = seconds(20)) {
    int busiest = -1;
    WaitUntil(
        [&] {
          std::vector<int> n = Streams();
          int total = 0;
          for (int x : n) {
            total += x;
          }
          busiest = static_cast<int>(std::max_element(n.begin(), n.end()) - n.begin());
          return total == static_cast<int>(scenario_->probers().size());
        },
        timeout);
    return busiest;
  }

  // SIGKILLs replica `i`, waits until every prober stores through another
  // one and prints how long that took.
  void KillReplica(int i) {
    Scenario& s = *scenario_;
    s.collectors()[i]->Kill();
    const absl::Time killed = absl::Now();
    ASSERT_TRUE(s.WaitForResultsAfter(killed, seconds(30)))
        << "the probers' results stopped after replica " << i + 1 << " was killed";
    std::cout << "[ cluster ] replica " << i + 1 << " SIGKILLed; every prober storing through"
              << " another within " << absl::FormatDuration(absl::Now() - killed) << "\n";
  }

  // Switches the two outages on: shop times out from ber only (a regional
  // outage), a quarter of api's logins fail with HTTP 503 everywhere (a
  // partial failure). Returns when faultd took the rules.
  absl::Time FaultsOn() {
    absl::StatusOr<absl::Time> on = scenario_->faultd().PutRules(Rules(
        {absl::StrCat(R"({"id":"ber-cut","listener":"http","source":"127.0.0.4","host":"shop.)",
                      kDomain, R"(","blackhole":true})"),
         absl::StrCat(R"({"id":"lb-login","listener":"http","host":"api.)", kDomain,
                      R"(","path_prefix":"/login","fail_share":0.25,"fail_seed":2016})"),
         Zone(kDomain)}));
    EXPECT_TRUE(on.ok()) << on.status();
    return on.value_or(absl::Now());
  }

  // Both outages opened, as the single-collector scenarios find them.
  void ExpectBothOutagesOpened() {
    Scenario& s = *scenario_;
    std::optional<IncidentRow> regional = s.WaitForIncident(
        [](const IncidentRow& i) { return i.service == "shop" && i.kind == "REGIONAL_OUTAGE"; },
        seconds(45));
    ASSERT_TRUE(regional.has_value()) << s.DescribeIncidents();
    EXPECT_EQ(regional->regions, std::vector<std::string>{"ber"}) << regional->ToString();
    std::optional<IncidentRow> partial = s.WaitForIncident(
        [](const IncidentRow& i) { return i.service == "api" && i.kind == "PARTIAL_FAILURE"; },
        seconds(120));
    ASSERT_TRUE(partial.has_value()) << s.DescribeIncidents();
    EXPECT_EQ(partial->checks, std::vector<std::string>{"api-login"}) << partial->ToString();
  }

  // Every stored incident was opened once and paged once, although every
  // replica runs a dispatcher: one OPENED row in its timeline, one OPENED
  // delivery at the receiver.
  void ExpectEveryIncidentPagedOnce() {
    Scenario& s = *scenario_;
    for (const IncidentRow& i : s.Incidents()) {
      SCOPED_TRACE(i.ToString());
      EXPECT_EQ(s.Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE kind = 'OPENED'"
                                   " AND incident_id = ",
                                   SqlQuote(i.id))),
                1);
      auto opened = [&](const Delivery& d) { return d.event == "OPENED" && d.incident_id == i.id; };
      EXPECT_TRUE(s.webhook().WaitFor(opened, seconds(30)).has_value()) << s.webhook().Describe();
      EXPECT_EQ(s.webhook().Accepted(opened).size(), 1u) << s.webhook().Describe();
    }
  }

  // Stops every prober (SIGTERM: what it holds is acked first) and checks
  // that each prober's run is stored exactly once: count = distinct =
  // max - min + 1, the first and the newest result included, nothing left
  // unacked in its spool. Returns when the probers stopped (the oracle's
  // cutoff).
  absl::Time ExpectEveryResultStoredOnce() {
    Scenario& s = *scenario_;
    const absl::Time stopped = absl::Now();
    for (const auto& p : s.probers()) {
      std::optional<int> status = p->Stop(seconds(30));
      EXPECT_TRUE(status.has_value() && *status == 0) << p->options().id;
    }
    for (size_t i = 0; i < s.probers().size(); ++i) {
      const testing::Prober& p = *s.probers()[i];
      SCOPED_TRACE(p.options().id);
      absl::StatusOr<testing::SpoolSnapshot> snap = testing::InspectSpool(p.options().spool_dir);
      if (!snap.ok()) {
        ADD_FAILURE() << snap.status();
        continue;
      }
      EXPECT_EQ(snap->unacked_batches, 0u) << "results left unacked";
      absl::StatusOr<testing::SeqSummary> run =
          testing::SummarizeRun(s.db(), p.options().id, run_started_[i]);
      if (!run.ok()) {
        ADD_FAILURE() << run.status();
        continue;
      }
      SCOPED_TRACE(run->ToString());
      std::cout << "[ cluster ] " << p.options().id << ": " << run->ToString() << "\n";
      EXPECT_GT(run->rows, 100) << "the prober hardly ran";
      EXPECT_EQ(run->rows, run->distinct) << "a result was stored twice";
      EXPECT_EQ(run->rows, run->max - run->min + 1) << "results are missing inside the run";
      EXPECT_EQ(run->min, run->first_batch_seq) << "the run's first results are missing";
      EXPECT_EQ(static_cast<uint64_t>(run->max), snap->max_result_seq)
          << "the newest results are missing";
    }
    return stopped;
  }

  // The replay oracle: the incidents one collector decides from the stored
  // results equal, in kind and scope, what the cluster stored up to the
  // probers' stop (the live replicas see every series go STALE after it;
  // the replay ends with the results).
  void ExpectSameIncidentsAsOneCollector(absl::Time cutoff) {
    Scenario& s = *scenario_;
    // The live detectors are past the last result (reorder window 2 s,
    // the runner's record retry 1 s) before the timelines are read.
    absl::SleepFor(absl::Seconds(4));
    absl::StatusOr<ReplayOutcome> oracle = ReplayStoredResults(s.db(), s.config_path(), cutoff);
    ASSERT_TRUE(oracle.ok()) << oracle.status();
    const std::vector<IncidentScope> stored = StoredScopes(s, cutoff);
    auto describe = [](const std::vector<IncidentScope>& v) {
      std::string out;
      for (const IncidentScope& i : v) {
        absl::StrAppend(&out, "  ", i.ToString(), "\n");
      }
      return out.empty() ? std::string("  (none)\n") : out;
    };
    std::cout << "[ cluster ] replay oracle: " << oracle->results << " stored results, "
              << oracle->incidents.size() << " incidents\n"
              << describe(oracle->incidents);
    EXPECT_GT(oracle->results, 300);
    EXPECT_EQ(stored, oracle->incidents)
        << "the cluster stored:\n"
        << describe(stored) << "one collector decides from the same results:\n"
        << describe(oracle->incidents) << "oracle events:\n"
        << oracle->events << oracle->stats << "\nstored:\n"
        << s.DescribeIncidents();
  }

  // The live lease of `shard` (expires_at in the future), if any.
  struct Lease {
    std::string owner;
    int64_t epoch = 0;
  };
  std::optional<Lease> LiveLease(int shard) {
    testing::Db::Rows rows = scenario_->Query(
        absl::StrCat("SELECT owner, epoch FROM shard_leases WHERE shard = ", shard,
                     " AND expires_at > clock_timestamp()"));
    if (rows.size() != 1 || rows[0].size() != 2) {
      return std::nullopt;
    }
    return Lease{rows[0][0], std::stoll(rows[0][1])};
  }
  // Waits until every detection shard has a live lease.
  bool EveryShardOwned(seconds timeout) {
    return WaitUntil(
        [&] {
          return scenario_->Int("SELECT count(*) FROM shard_leases"
                                " WHERE expires_at > clock_timestamp()") ==
                 collector::cluster::kShardCount;
        },
        timeout);
  }

  // The index in collectors() of replica `replica_id` ("replica-<n>"), -1
  // if none.
  int ReplicaIndex(const std::string& replica_id) {
    for (int i = 0; i < static_cast<int>(scenario_->collectors().size()); ++i) {
      if (replica_id == absl::StrCat("replica-", i + 1)) {
        return i;
      }
    }
    return -1;
  }
  // Waits until another replica holds `shard` under a higher epoch than
  // `before`.
  std::optional<Lease> WaitForTakeover(int shard, const Lease& before, seconds timeout) {
    std::optional<Lease> after;
    const bool taken = WaitUntil(
        [&] {
          after = LiveLease(shard);
          return after.has_value() && after->owner != before.owner && after->epoch > before.epoch;
        },
        timeout);
    return taken ? after : std::nullopt;
  }

  // Step 2 of ShardOwnerKilledContinuesItsIncident: the owner of `shard`
  // SIGSTOPped past its lease while its write of the recovery waits at the
  // fence. `*recovered` is when shop recovered.
  void PauseOwnerPastItsLease(int shard, absl::Time* recovered) {
    Scenario& s = *scenario_;
    std::optional<Lease> lease = LiveLease(shard);
    ASSERT_TRUE(lease.has_value()) << "shop's shard " << shard << " has no live lease";
    const int paused = ReplicaIndex(lease->owner);
    ASSERT_GE(paused, 0) << "unknown owner " << lease->owner;
    // Right after a renewal (every 5 s) the lease has its TTL left: time
    // for the owner to decide the recovery and write it.
    const std::string just_renewed =
        absl::StrCat("SELECT count(*) FROM shard_leases WHERE shard = ", shard,
                     " AND owner = ", SqlQuote(lease->owner), " AND epoch = ", lease->epoch,
                     " AND expires_at > clock_timestamp() + interval '14 s'");
    ASSERT_TRUE(WaitUntil([&] { return s.Int(just_renewed) == 1; }, seconds(10),
                          std::chrono::milliseconds(50)))
        << "the owner does not renew its lease";
    // The lease row held by an uncommitted no-op UPDATE: the owner's fence
    // (SELECT ... FOR SHARE) and renewal wait for it; once it commits they
    // re-check the row, by then expired.
    testing::Db locker(s.conninfo());
    ASSERT_OK(locker.Query("BEGIN").status());
    ASSERT_OK(locker
                  .Query(absl::StrCat("UPDATE shard_leases SET expires_at = expires_at"
                                      " WHERE shard = ",
                                      shard))
                  .status());
    absl::StatusOr<absl::Time> off = s.faultd().PutRules(Rules({Zone(kDomain)}));
    ASSERT_TRUE(off.ok()) << off.status();
    *recovered = *off;
    // The owner decides the recovery (PROGRESS) and writes it: its
    // incident transaction waits at the fence (behind the renewal, which
    // waits for the held row).
    const std::string at_fence =
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sonde-incidents'"
        " AND wait_event_type = 'Lock' AND query LIKE 'SELECT 1 FROM shard_leases%FOR SHARE'";
    const bool in_flight =
        WaitUntil([&] { return s.Int(at_fence) >= 1; }, seconds(14), std::chrono::milliseconds(50));
    ASSERT_TRUE(in_flight) << lease->owner
                           << " wrote nothing for shop while its lease ran (recovery not "
                              "decided within 14 s)\n"
                           << s.DescribeIncidents() << Sessions();
    const absl::Duration decided = absl::Now() - *recovered;
    s.collectors()[paused]->Signal(SIGSTOP);
    const absl::Time stopped = absl::Now();
    ASSERT_TRUE(WaitUntil(
        [&] {
          return s.Int(absl::StrCat("SELECT count(*) FROM shard_leases WHERE shard = ", shard,
                                    " AND expires_at < clock_timestamp() - interval '500 ms'")) ==
                 1;
        },
        seconds(20)))
        << "the lease of the paused owner does not expire";
    stale_.epoch = lease->epoch;
    stale_.events_after = s.Int("SELECT coalesce(max(id), 0) FROM incident_events");
    stale_.outbox_after = s.Int("SELECT coalesce(max(id), 0) FROM outbox");
    ASSERT_OK(locker.Query("COMMIT").status());
    std::optional<Lease> taken = WaitForTakeover(shard, *lease, seconds(60));
    ASSERT_TRUE(taken.has_value())
        << "shop's shard " << shard << " was not taken over from " << lease->owner;
    const absl::Duration takeover = absl::Now() - stopped;
    // Paused longer than the TTL plus a margin, whatever the takeover took.
    SleepUntil(stopped + kLeaseTtl + absl::Seconds(3));
    s.collectors()[paused]->Signal(SIGCONT);
    const absl::Duration pause = absl::Now() - stopped;
    double fenced = 0;
    const bool counted = WaitUntil(
        [&] {
          absl::StatusOr<testing::MetricValues> m = s.collectors()[paused]->Metrics();
          if (m.ok() && m->count("sonde_detection_fenced_writes_total") != 0) {
            fenced = m->at("sonde_detection_fenced_writes_total");
          }
          return fenced > 0;
        },
        seconds(15));
    std::cout << "[ fenced ] " << lease->owner << " (epoch " << lease->epoch
              << ") wrote the recovery " << Secs(decided) << " s after it, was SIGSTOPped for "
              << Secs(pause) << " s with that write at the fence; " << taken->owner
              << " took the shard under epoch " << taken->epoch << " " << Secs(takeover)
              << " s after the stop; fenced writes counted by the woken replica: " << fenced
              << "\n";
    EXPECT_TRUE(counted) << "the woken replica's write was not counted as fenced";
    // The paused owner's transaction (its fence answered, itself asleep)
    // must not hold the takeover past a third of the TTL (shard_leases.h).
    EXPECT_LE(takeover, kLeaseTtl + absl::Seconds(10)) << "takeover slower than the TTL + 10 s";
  }

  // The database sessions of the replicas, for failure messages.
  std::string Sessions() {
    std::string out = "sessions:\n";
    for (const auto& row :
         scenario_->Query("SELECT pid, application_name, state, wait_event_type, wait_event,"
                          " pg_blocking_pids(pid), left(query, 120) FROM pg_stat_activity"
                          " WHERE application_name LIKE 'sonde%' ORDER BY application_name")) {
      absl::StrAppend(&out, "  ", absl::StrJoin(row, " | "), "\n");
    }
    return out;
  }

  // No row of shop's incidents under the paused owner's epoch (or an older
  // one) landed after its lease ran out (PauseOwnerPastItsLease): no
  // timeline or outbox row added since, and the incident row's last write
  // is a later owner's. (The notification scheduler, whose lease has
  // epochs of its own, writes nothing here: no repeats, escalations or
  // heartbeats are configured.)
  void ExpectNoStaleWrites() {
    Scenario& s = *scenario_;
    ASSERT_GT(stale_.epoch, 0);
    const std::string shop = "(SELECT id FROM incidents WHERE service = 'shop')";
    EXPECT_EQ(s.Int(absl::StrCat(
                  "SELECT count(*) FROM incident_events WHERE lease_epoch <= ", stale_.epoch,
                  " AND id > ", stale_.events_after, " AND incident_id IN ", shop)),
              0)
        << s.DescribeIncidents();
    EXPECT_EQ(s.Int(absl::StrCat("SELECT count(*) FROM outbox WHERE lease_epoch <= ", stale_.epoch,
                                 " AND id > ", stale_.outbox_after, " AND incident_id IN ", shop)),
              0);
    EXPECT_EQ(s.Int(absl::StrCat("SELECT count(*) FROM incidents WHERE service = 'shop'"
                                 " AND lease_epoch <= ",
                                 stale_.epoch)),
              0);
  }

  // Step 3 of ShardOwnerKilledContinuesItsIncident: the receiver holds its
  // answer to `incident`'s RESOLVED; the replica sending it is SIGKILLed
  // before it could commit the delivery; another one sends it again, with
  // the same delivery id, once.
  void KillTheDeliveringReplica(const std::string& incident, absl::Time recovered) {
    Scenario& s = *scenario_;
    auto resolved = [&](const Delivery& d) {
      return d.event == "RESOLVED" && d.incident_id == incident;
    };
    s.webhook().HoldNext(resolved);
    // RESOLVED comes resolve_hold (3 min, shipped default) after shop recovers.
    const absl::Duration left = recovered + absl::Seconds(240) - absl::Now();
    std::optional<Delivery> held = s.webhook().WaitForHeld(
        std::chrono::milliseconds(std::max<int64_t>(absl::ToInt64Milliseconds(left), 1000)));
    ASSERT_TRUE(held.has_value()) << "no RESOLVED for " << incident << "\n"
                                  << s.webhook().Describe();
    int sender = -1;
    WaitUntil(
        [&] {
          for (size_t i = 0; i < s.collectors().size(); ++i) {
            testing::Collector& c = *s.collectors()[i];
            if (c.running() && OwnsConnection(c.pid(), held->peer_port, s.webhook().port())) {
              sender = static_cast<int>(i);
            }
          }
          return sender >= 0;
        },
        seconds(3), std::chrono::milliseconds(20));
    ASSERT_GE(sender, 0) << "no replica holds the connection from port " << held->peer_port;
    s.collectors()[sender]->Kill();
    const absl::Time killed = absl::Now();
    s.webhook().ReleaseHeld();
    std::optional<Delivery> repeat = s.webhook().WaitFor(resolved, seconds(30), true, killed);
    ASSERT_TRUE(repeat.has_value())
        << "the RESOLVED was not sent again after replica " << sender + 1 << " died\n"
        << s.webhook().Describe();
    absl::SleepFor(absl::Seconds(3));
    std::vector<Delivery> all;
    for (const Delivery& d : s.webhook().deliveries()) {
      if (resolved(d)) {
        all.push_back(d);
      }
    }
    std::cout << "[ delivery ] replica-" << sender + 1 << " SIGKILLed while the receiver held "
              << "RESOLVED delivery " << held->delivery_id << "; sent again "
              << Secs(repeat->received_at - killed) << " s later (delivery " << repeat->delivery_id
              << "); RESOLVED deliveries seen: " << all.size() << "\n";
    EXPECT_LE(all.size(), 2u) << "more than one repeat\n" << s.webhook().Describe();
    for (const Delivery& d : all) {
      EXPECT_EQ(d.delivery_id, held->delivery_id) << s.webhook().Describe();
    }
    EXPECT_EQ(s.Int(absl::StrCat("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL"
                                 " AND id = ",
                                 SqlQuote(held->delivery_id))),
              1);
  }

  std::unique_ptr<Scenario> scenario_;
  std::vector<int64_t> run_started_;  // per prober, its run's first seq
  // The paused owner's epoch and the last timeline and outbox ids before
  // its lease was given up (PauseOwnerPastItsLease).
  struct {
    int64_t epoch = 0;
    int64_t events_after = 0;
    int64_t outbox_after = 0;
  } stale_;
};

// The replica holding most streams dies mid-run. Until detection is
// sharded every replica detects on the streams it receives (docs/ha.md,
// "What is safe to run today"), so the kill comes before the outages: the
// replica that inherits the streams detects them, and what it stores must
// equal one collector's decision over everything stored.
TEST_F(ClusterTest, ReplicaHoldingMostStreamsKilledMidRunStoresEveryResultOnce) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  Scenario& s = *scenario_;
  const int busiest = BusiestReplica();
  ASSERT_GE(busiest, 0) << "not every prober holds a stream";
  absl::SleepFor(absl::Seconds(3));
  ASSERT_NO_FATAL_FAILURE(KillReplica(busiest));
  EXPECT_GE(BusiestReplica(), 0) << "the streams did not move to the other replicas";
  // The inheriting replica detects from fresh windows (it rebuilds none
  // from stored results until sharded takeover lands): the world breaks
  // once its fast partial window (partial_fast_window, 24 s) is as full as
  // one collector's would be, or it would see a quarter failing as a larger
  // share of fewer probes and open sooner than the oracle.
  absl::SleepFor(absl::Seconds(26));
  ASSERT_TRUE(s.Incidents().empty()) << "incident before any fault:\n" << s.DescribeIncidents();

  FaultsOn();
  ASSERT_NO_FATAL_FAILURE(ExpectBothOutagesOpened());
  const absl::Time cutoff = ExpectEveryResultStoredOnce();
  ExpectEveryIncidentPagedOnce();
  ExpectSameIncidentsAsOneCollector(cutoff);
}

// Sharded detection (--cluster), three owners of shop's shard in a row
// while its regional outage is open, on one cluster (about 4 min):
//
// 1. The owner is SIGKILLed. Another replica takes the shard once the
//    lease runs out (TTL 15 s) and, rebuilt from the stored results,
//    continues the same incident: no second OPENED, no second page.
// 2. The next owner is SIGSTOPped with a write in flight, past its lease:
//    shop recovers (the owner decides PROGRESS), the test holds the lease
//    row (a no-op UPDATE, uncommitted) so that write waits at its fence,
//    SIGSTOPs the owner, commits once the lease expired by the database
//    clock, waits for the third replica's takeover under a higher epoch
//    and SIGCONTs it. The fence answers the woken write "lease gone": it is
//    counted (sonde_detection_fenced_writes_total) and no row of shop with
//    the stale epoch lands. Without the held row the woken replica drops
//    its shards by its local deadline before it writes anything (docs/ha.md,
//    "Detection shards under leases"), so nothing would be fenced.
// 3. The RESOLVED (resolve_hold, 3 min after the recovery) is held by the
//    receiver; the replica sending it is SIGKILLed; the last replica sends
//    it again with the same X-Sonde-Delivery id, and only once.
// Then no timeline row was written twice, every result is stored once and
// the replay oracle holds across the handovers.
TEST_F(ClusterTest, ShardOwnerKilledContinuesItsIncident) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(Scenario::Detection::kSharded));
  Scenario& s = *scenario_;
  ASSERT_TRUE(EveryShardOwned(seconds(60))) << "not every shard has a live lease";

  FaultsOn();
  ASSERT_NO_FATAL_FAILURE(ExpectBothOutagesOpened());
  std::vector<IncidentRow> shop =
      s.Incidents("service = 'shop' AND kind = 'REGIONAL_OUTAGE'");
  ASSERT_EQ(shop.size(), 1u) << s.DescribeIncidents();
  const std::string incident = shop[0].id;

  // 1. The owner SIGKILLed.
  const int shard = collector::cluster::ShardOf("shop");
  std::optional<Lease> before = LiveLease(shard);
  ASSERT_TRUE(before.has_value()) << "shop's shard " << shard << " has no live lease";
  const int owner = ReplicaIndex(before->owner);
  ASSERT_GE(owner, 0) << "unknown owner " << before->owner;
  s.collectors()[owner]->Kill();
  const absl::Time killed = absl::Now();
  std::optional<Lease> after = WaitForTakeover(shard, *before, seconds(60));
  ASSERT_TRUE(after.has_value()) << "shop's shard " << shard << " was not taken over";
  const absl::Duration handover = absl::Now() - killed;
  std::cout << "[ handover ] " << absl::ToDoubleSeconds(handover) << " (" << before->owner
            << " epoch " << before->epoch << " -> " << after->owner << " epoch " << after->epoch
            << ")\n";
  EXPECT_LE(handover, absl::Seconds(25)) << "handover slower than the lease TTL + 10 s";

  // The new owner evaluates shop a few times; the incident stays the one.
  absl::SleepFor(absl::Seconds(10));
  shop = s.Incidents("service = 'shop' AND kind = 'REGIONAL_OUTAGE'");
  ASSERT_EQ(shop.size(), 1u) << s.DescribeIncidents();
  EXPECT_EQ(shop[0].id, incident);
  EXPECT_TRUE(shop[0].open()) << shop[0].ToString();
  ExpectEveryIncidentPagedOnce();

  // 2. The next owner SIGSTOPped past its lease with a write in flight;
  // shop recovers meanwhile (the RESOLVED follows resolve_hold later).
  absl::Time recovered;
  ASSERT_NO_FATAL_FAILURE(PauseOwnerPastItsLease(shard, &recovered));

  // 3. The replica delivering the RESOLVED SIGKILLed before its commit.
  ASSERT_NO_FATAL_FAILURE(KillTheDeliveringReplica(incident, recovered));
  EXPECT_EQ(s.Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE kind = 'RESOLVED'"
                               " AND incident_id = ",
                               SqlQuote(incident))),
            1);
  ExpectNoStaleWrites();
  ExpectEveryIncidentPagedOnce();
  // No rebuild of the handovers wrote a detector row the timeline held
  // (docs/ha.md, "What a rebuild writes").
  EXPECT_EQ(s.Int("SELECT count(*) FROM (SELECT 1 FROM incident_events"
                  " WHERE kind IN ('OPENED', 'UPDATED', 'RECLASSIFIED', 'REGIONS_CHANGED',"
                  " 'PROGRESS', 'RESOLVED') GROUP BY incident_id, kind, at, incident_kind, regions,"
                  " affected_targets, recovered_targets, failing_share, detail"
                  " HAVING count(*) > 1) twice"),
            0)
      << s.DescribeIncidents();
  const absl::Time cutoff = ExpectEveryResultStoredOnce();
  ExpectSameIncidentsAsOneCollector(cutoff);
}

}  // namespace
}  // namespace sonde::scenarios
