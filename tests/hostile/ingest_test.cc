// Hostile ingest (issue 10, "Bounded everything"): a real sonde-collector
// with tokens and a real PostgreSQL, attacked over raw gRPC while a healthy
// client keeps reporting on its own token. Each case asserts no crash,
// bounded memory (the collector's peak RSS, VmHWM, is printed), the healthy
// results all stored, the refusal counted and the clear error returned.
// An open collector (--insecure) given 150 streams over one HTTP/2
// connection must serve at most 100 at once and the rest later.
// A PostgreSQL stopped with SIGSTOP (it accepts TCP but never answers) must
// cost an HTTP ack a bounded time and a clear 503.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "sonde/v1/collector.grpc.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"

namespace sonde {
namespace {

using sonde::testing::Collector;
using sonde::testing::Db;
using sonde::testing::Postgres;
using sonde::testing::ScratchDir;
using sonde::testing::Tail;
using sonde::testing::WaitUntil;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kGoodToken[] = "good-token-0123456789";
constexpr char kEvilToken[] = "evil-token-0123456789";
constexpr char kQueryToken[] = "query-token-0123456789";
// Probers that load the pool at once, more than its 16 connections.
constexpr int kLoadProbers = 48;

// The collector's peak resident set (VmHWM) in MiB; -1 if unreadable.
double PeakRssMib(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmHWM:")) {
      int64_t kb = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') {
          digits.push_back(c);
        }
      }
      if (absl::SimpleAtoi(digits, &kb)) {
        return kb / 1024.0;
      }
    }
  }
  return -1;
}

v1::ProbeResult Result(int seq, absl::Time start) {
  v1::ProbeResult r;
  r.set_check_id(absl::StrCat("c-", seq % 10));
  r.set_service("svc");
  r.set_kind("tcp");
  r.set_seq(seq);
  r.mutable_start_time()->set_seconds(absl::ToUnixSeconds(start));
  r.set_failure_class(v1::FailureClass::OK);
  r.set_ok(true);
  return r;
}

v1::ResultBatch Batch(const std::string& prober, uint64_t batch_seq, int results) {
  v1::ResultBatch b;
  b.set_prober_id(prober);
  b.set_region("fra");
  b.set_batch_seq(batch_seq);
  for (int i = 0; i < results; ++i) {
    *b.add_results() = Result(static_cast<int>(batch_seq) * 1000 + i, absl::Now());
  }
  return b;
}

class HostileIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    scratch_ = std::make_unique<ScratchDir>(absl::StrCat("hostile-ingest-", info->name()));
    ASSERT_FALSE(scratch_->path().empty());
    pg_ = std::make_unique<Postgres>(scratch_->Path("pg"));
    ASSERT_OK(pg_->Start());
    db_ = std::make_unique<Db>(pg_->conninfo());
    std::ofstream tokens(scratch_->Path("tokens.yaml"));
    tokens << "probers:\n"
           << "  - {token: \"" << kGoodToken << "\", prober_id: p-good, region: fra}\n"
           << "  - {token: \"" << kEvilToken << "\", prober_id: p-evil, region: fra}\n";
    for (int i = 0; i < kLoadProbers; ++i) {
      tokens << "  - {token: \"load-token-0123456789-" << i << "\", prober_id: p-load-" << i
             << ", region: fra}\n";
    }
    tokens << "query:\n  - \"" << kQueryToken << "\"\n";
  }

  void TearDown() override {
    if (HasFailure()) {
      scratch_->Keep();
      if (collector_ != nullptr) {
        std::cerr << "--- collector\n" << Tail(collector_->Log()) << "\n";
      }
    }
    collector_.reset();
    db_.reset();
    pg_.reset();
    scratch_.reset();
  }

  void StartCollector(std::vector<std::string> extra) {
    extra.push_back("--tokens");
    extra.push_back(scratch_->Path("tokens.yaml"));
    collector_ = std::make_unique<Collector>(scratch_->Path("collector.log"),
                                             Collector::Options{pg_->conninfo(), "", extra});
    ASSERT_OK(collector_->Start());
  }

  std::shared_ptr<grpc::Channel> Channel(int n) {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection
    args.SetInt("sonde.test.channel", n);
    return grpc::CreateCustomChannel(collector_->address(), grpc::InsecureChannelCredentials(),
                                     args);
  }

  static void Authorize(grpc::ClientContext* ctx, const std::string& token, int deadline_s = 30) {
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    ctx->set_deadline(std::chrono::system_clock::now() + seconds(deadline_s));
  }

  double Metric(const std::string& name) {
    auto m = collector_->Metrics(kQueryToken);  // ignored by an open collector
    return m.ok() && m->count(name) > 0 ? m->at(name) : -1;
  }

  int64_t Int(const std::string& sql) {
    absl::StatusOr<int64_t> v = db_->Int(sql);
    EXPECT_OK(v.status());
    return v.ok() ? *v : -1;
  }

  std::unique_ptr<ScratchDir> scratch_;
  std::unique_ptr<Postgres> pg_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<Collector> collector_;
};

// A healthy prober's stream: one batch of 20 results every 100 ms until
// `stop`; counts what was acked.
struct HealthyClient {
  std::atomic<int> acked_results{0};
  std::atomic<int> failures{0};
  std::thread thread;
};

void RunHealthy(std::shared_ptr<grpc::Channel> channel, absl::Notification* stop,
                HealthyClient* out) {
  auto stub = v1::Ingest::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kGoodToken));
  ctx.set_deadline(std::chrono::system_clock::now() + seconds(240));
  auto stream = stub->Report(&ctx);
  for (uint64_t seq = 1; seq < 3000 && !stop->HasBeenNotified(); ++seq) {
    v1::Ack ack;
    if (!stream->Write(Batch("p-good", seq, 20)) || !stream->Read(&ack) || ack.batch_seq() != seq) {
      out->failures.fetch_add(1);
      break;
    }
    out->acked_results.fetch_add(20);
    stop->WaitForNotificationWithTimeout(absl::Milliseconds(100));
  }
  stream->WritesDone();
  grpc::Status st = stream->Finish();
  if (!st.ok()) {
    out->failures.fetch_add(1);
  }
}

TEST_F(HostileIngestTest, ThousandStreamsHostileBatchesAndHugeDetailsLeaveHealthyResultsStored) {
  ASSERT_NO_FATAL_FAILURE(StartCollector({}));
  absl::Notification stop_healthy;
  HealthyClient healthy;
  healthy.thread = std::thread(RunHealthy, Channel(0), &stop_healthy, &healthy);

  // PostgreSQL backends of the pool, sampled throughout.
  std::atomic<bool> sampling{true};
  std::atomic<int64_t> max_pool_backends{0}, max_backends{0};
  std::thread sampler([&] {
    Db db(pg_->conninfo());
    while (sampling.load()) {
      auto rows = db.Query(
          "SELECT count(*) FILTER (WHERE application_name = 'sonde-collector'),"
          " count(*) FILTER (WHERE application_name LIKE 'sonde-%')"
          " FROM pg_stat_activity");
      if (rows.ok() && rows->size() == 1) {
        int64_t pool = 0, all = 0;
        if (absl::SimpleAtoi((*rows)[0][0], &pool) && absl::SimpleAtoi((*rows)[0][1], &all)) {
          max_pool_backends.store(std::max(max_pool_backends.load(), pool));
          max_backends.store(std::max(max_backends.load(), all));
        }
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
  });

  // 1. 1,000 streams on one token at once, from 10 connections.
  constexpr int kStreams = 1000;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 10; ++i) {
    channels.push_back(Channel(i + 1));
    // Connected before the attack: what is measured is the collector's
    // answer to the streams, not a connect racing 1,000 threads' start.
    ASSERT_TRUE(channels.back()->WaitForConnected(std::chrono::system_clock::now() + seconds(30)))
        << "channel " << i + 1 << " did not connect";
  }
  std::atomic<int> accepted{0}, exhausted{0}, other{0};
  absl::Mutex other_mu;
  std::string other_status;  // the first stream that ended otherwise, for the log
  absl::Notification release;
  std::vector<std::thread> attackers;
  for (int i = 0; i < kStreams; ++i) {
    attackers.emplace_back([&, i] {
      auto stub = v1::Ingest::NewStub(channels[i % channels.size()]);
      grpc::ClientContext ctx;
      Authorize(&ctx, kEvilToken, 60);
      auto stream = stub->Report(&ctx);
      v1::Ack ack;
      if (stream->Write(Batch("p-evil", i + 1, 5)) && stream->Read(&ack)) {
        accepted.fetch_add(1);
        release.WaitForNotificationWithTimeout(absl::Seconds(30));
        stream->WritesDone();
        stream->Finish();
        return;
      }
      grpc::Status st = stream->Finish();
      if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
          absl::StrContains(st.error_message(), "--max-streams-per-prober")) {
        exhausted.fetch_add(1);
      } else if (other.fetch_add(1) == 0) {
        absl::MutexLock lock(&other_mu);
        other_status = absl::StrCat(st.error_code(), ": ", st.error_message());
      }
    });
  }
  // Every stream's answer before the accepted ones let go: a stream still
  // on its way when they do would find a free slot, and rightly take it.
  ASSERT_TRUE(
      WaitUntil([&] { return accepted.load() + exhausted.load() + other.load() >= kStreams; },
                seconds(120), milliseconds(100)));
  release.Notify();
  for (std::thread& t : attackers) {
    t.join();
  }
  const double rss_streams = PeakRssMib(collector_->pid());
  std::cout << "1,000 streams on one token: accepted " << accepted.load() << ", refused "
            << exhausted.load() << ", other " << other.load() << " (first: " << other_status
            << "); collector peak RSS " << rss_streams << " MiB\n";
  EXPECT_LE(accepted.load(), 4);
  EXPECT_GE(exhausted.load(), kStreams - 4 - other.load());
  EXPECT_LE(other.load(), 10);  // e.g. the client's own stream limits
  EXPECT_GE(Metric("sonde_ingest_streams_over_cap_total"), exhausted.load());

  // 2. 48 probers storing 500-result batches back to back for 4 s: more
  // streams than pooled connections, so streams wait for one.
  std::atomic<int64_t> load_acked{0};
  std::atomic<int> load_failures{0};
  {
    std::vector<std::thread> load;
    const absl::Time until = absl::Now() + absl::Seconds(4);
    for (int p = 0; p < kLoadProbers; ++p) {
      load.emplace_back([&, p] {
        auto stub = v1::Ingest::NewStub(channels[p % channels.size()]);
        grpc::ClientContext ctx;
        Authorize(&ctx, absl::StrCat("load-token-0123456789-", p), 90);
        auto stream = stub->Report(&ctx);
        for (uint64_t seq = 1; seq < 200 && absl::Now() < until; ++seq) {
          v1::Ack ack;
          if (!stream->Write(Batch(absl::StrCat("p-load-", p), seq, 500)) || !stream->Read(&ack)) {
            load_failures.fetch_add(1);
            break;
          }
          load_acked.fetch_add(500);
        }
        stream->WritesDone();
        if (!stream->Finish().ok()) {
          load_failures.fetch_add(1);
        }
      });
    }
    for (std::thread& t : load) {
      t.join();
    }
  }
  std::cout << kLoadProbers << " probers at once: " << load_acked.load()
            << " results acked; pool backends max " << max_pool_backends.load() << "\n";
  EXPECT_EQ(load_failures.load(), 0);
  EXPECT_EQ(Int("SELECT count(*) FROM results WHERE prober_id LIKE 'p-load-%'"), load_acked.load());

  auto stub = v1::Ingest::NewStub(Channel(20));
  // One stream per hostile batch: each answers before the next starts.
  auto report = [&](const v1::ResultBatch& b, v1::Ack* ack) {
    grpc::ClientContext ctx;
    Authorize(&ctx, kEvilToken);
    auto stream = stub->Report(&ctx);
    bool acked = stream->Write(b) && stream->Read(ack);
    stream->WritesDone();
    grpc::Status st = stream->Finish();
    return acked ? grpc::Status::OK : st;
  };
  v1::Ack ack;

  // 3. 1 M gaps in one batch: refused as invalid, never "try again".
  {
    v1::ResultBatch b = Batch("p-evil", 100001, 1);
    for (int i = 0; i < 1'000'000; ++i) {
      v1::Gap* g = b.add_gaps();
      g->set_results(1);
      g->set_first_batch_seq(i);
      g->set_last_batch_seq(i);
    }
    grpc::Status st = report(b, &ack);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), "1000000 gaps, at most 1000"))
        << st.error_message();
  }
  // 4. INT64_MAX times: a gap with one is invalid; a result with one is
  // refused alone (time_range) and the rest of the batch stored.
  {
    v1::ResultBatch b = Batch("p-evil", 100002, 1);
    v1::Gap* g = b.add_gaps();
    g->set_results(3);
    g->mutable_to()->set_seconds(std::numeric_limits<int64_t>::max());
    grpc::Status st = report(b, &ack);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), "gaps[0]")) << st.error_message();

    const double refused_before = Metric("sonde_ingest_results_refused_total");
    v1::ResultBatch r = Batch("p-evil", 100003, 3);
    r.mutable_results(1)->mutable_start_time()->set_seconds(std::numeric_limits<int64_t>::max());
    st = report(r, &ack);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(Metric("sonde_ingest_results_refused_total"), refused_before + 1);
    EXPECT_EQ(Int("SELECT count(*) FROM results WHERE prober_id = 'p-evil' AND seq >= 100003000"
                  " AND seq < 100004000"),
              2);
  }
  // 5. Future-dated results with 10 MB details beside healthy ones with
  // 10 MB details: the future ones are refused and counted, the healthy
  // ones stored with the detail cut to 4 KiB.
  {
    const double refused_before = Metric("sonde_ingest_results_refused_total");
    v1::ResultBatch b = Batch("p-evil", 100004, 2);
    const std::string ten_mb(10 << 20, 'x');
    for (v1::ProbeResult& r : *b.mutable_results()) {
      r.set_detail(ten_mb);
    }
    for (int i = 0; i < 4; ++i) {
      v1::ProbeResult* r = b.add_results();
      *r = Result(100004500 + i, absl::Now() + absl::Hours(24 * 365));
      r->set_detail(ten_mb);
    }
    for (int round = 0; round < 3; ++round) {
      b.set_batch_seq(100004 + round);
      grpc::Status st = report(b, &ack);
      EXPECT_TRUE(st.ok()) << st.error_message();
    }
    EXPECT_EQ(Metric("sonde_ingest_results_refused_total"), refused_before + 12);
    // Three batches of the same results: 2 healthy ones stored per batch.
    EXPECT_EQ(Int("SELECT count(*) FROM results WHERE prober_id = 'p-evil' AND seq >= 100004000"
                  " AND seq < 100005000"),
              6);
    EXPECT_LE(Int("SELECT max(octet_length(detail)) FROM results WHERE prober_id = 'p-evil'"),
              4096);
  }
  const double rss_details = PeakRssMib(collector_->pid());
  std::cout << "10 MB details, 1 M gaps, INT64_MAX times: collector peak RSS " << rss_details
            << " MiB\n";

  stop_healthy.Notify();
  healthy.thread.join();
  sampling.store(false);
  sampler.join();
  std::cout << "PostgreSQL backends: pool max " << max_pool_backends.load() << " (cap 16), all "
            << max_backends.load() << "\n";
  RecordProperty("peak_rss_mib", std::to_string(rss_details));
  EXPECT_TRUE(collector_->running());
  EXPECT_LE(max_pool_backends.load(), 16);
  // The pool, plus one connection each for the members heartbeat, the
  // incident store, the notification dispatcher and the rollup folder
  // (retention's comes and goes between them).
  EXPECT_LE(max_backends.load(), 16 + 4);
  EXPECT_LT(rss_details, 1024);
  EXPECT_EQ(healthy.failures.load(), 0);
  EXPECT_GT(healthy.acked_results.load(), 0);
  EXPECT_EQ(Int("SELECT count(*) FROM results WHERE prober_id = 'p-good'"),
            healthy.acked_results.load());
}

// GRPC_ARG_MAX_CONCURRENT_STREAMS (100 per HTTP/2 connection): an open
// collector (--insecure, loopback) gets 150 Report streams over one
// connection, each claiming its own prober id so the per-prober cap refuses
// none. At most 100 are served at once; the rest wait at the HTTP/2 level and
// are served, their batches stored, once earlier streams end.
TEST_F(HostileIngestTest, OneConnectionGetsAtMostAHundredStreamsServedAtOnce) {
  collector_ = std::make_unique<Collector>(scratch_->Path("collector.log"),
                                           Collector::Options{pg_->conninfo(), "", {}});
  ASSERT_OK(collector_->Start());
  constexpr int kStreams = 150;
  constexpr int kStreamBound = 100;  // collector/server.cc
  constexpr int kResults = 5;
  std::shared_ptr<grpc::Channel> channel = Channel(1);  // one connection
  std::atomic<int> served{0}, failures{0};
  absl::Notification release;
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&, i] {
      auto stub = v1::Ingest::NewStub(channel);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + seconds(60));
      auto stream = stub->Report(&ctx);
      v1::Ack ack;
      if (!stream->Write(Batch(absl::StrCat("p-open-", i), 1, kResults)) || !stream->Read(&ack) ||
          ack.batch_seq() != 1) {
        failures.fetch_add(1);
      } else {
        served.fetch_add(1);
        // Holds its slot until released, as a prober's long-lived stream.
        release.WaitForNotificationWithTimeout(absl::Seconds(40));
      }
      stream->WritesDone();
      if (!stream->Finish().ok()) {
        failures.fetch_add(1);
      }
    });
  }
  // While every served stream stays open: no more than the bound served.
  const bool filled =
      WaitUntil([&] { return served.load() >= kStreamBound; }, seconds(20), milliseconds(50));
  double max_active = -1;
  for (int i = 0; i < 10; ++i) {  // 1 s more: none of the waiting 50 gets in
    max_active = std::max(max_active, Metric("sonde_ingest_streams_active"));
    std::this_thread::sleep_for(milliseconds(100));
  }
  const int served_while_held = served.load();
  release.Notify();
  for (std::thread& t : clients) {
    t.join();
  }
  const double rss = PeakRssMib(collector_->pid());
  std::cout << kStreams << " streams on one connection: served while held " << served_while_held
            << " (sonde_ingest_streams_active max " << max_active << "), served in all "
            << served.load() << ", failures " << failures.load() << "; collector peak RSS " << rss
            << " MiB\n";
  EXPECT_TRUE(filled);
  EXPECT_EQ(served_while_held, kStreamBound);
  EXPECT_GE(max_active, 1);  // the metric was read
  EXPECT_LE(max_active, kStreamBound);
  EXPECT_EQ(served.load(), kStreams);  // the waiting ones were served later
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Int("SELECT count(*) FROM results WHERE prober_id LIKE 'p-open-%'"),
            kStreams * kResults);
  EXPECT_EQ(Int("SELECT count(DISTINCT prober_id) FROM results WHERE prober_id LIKE 'p-open-%'"),
            kStreams);
  EXPECT_TRUE(collector_->running());
  EXPECT_LT(rss, 1024);
}

// The pids of the PostgreSQL server: the postmaster (parent of a backend)
// and its children.
std::vector<int> PostgresPids(Db& db) {
  std::vector<int> pids;
  absl::StatusOr<int64_t> backend = db.Int("SELECT pg_backend_pid()");
  if (!backend.ok()) {
    return pids;
  }
  auto parent_of = [](int64_t pid) -> int64_t {
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close = stat.rfind(')');
    if (close == std::string::npos) {
      return -1;
    }
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int64_t ppid = -1;
    rest >> state >> ppid;
    return ppid;
  };
  const int64_t postmaster = parent_of(*backend);
  if (postmaster <= 1) {
    return pids;
  }
  pids.push_back(static_cast<int>(postmaster));
  std::string out;
  sonde::testing::RunCommand({"/usr/bin/pgrep", "-P", std::to_string(postmaster)}, &out);
  std::istringstream in(out);
  int pid = 0;
  while (in >> pid) {
    pids.push_back(pid);
  }
  return pids;
}

TEST_F(HostileIngestTest, BlackHoledPostgresAnswersAnAckWithAClearErrorInTime) {
  const int http_port = sonde::testing::FreePort();
  // A short statement timeout keeps the test short; the bound is the same.
  ASSERT_NO_FATAL_FAILURE(StartCollector(
      {"--http-listen", absl::StrCat("127.0.0.1:", http_port), "--pg-statement-timeout", "3s"}));
  // The HTTP API starts after the gRPC port the fixture waited for.
  ASSERT_TRUE(sonde::testing::WaitForPort(http_port, std::chrono::seconds(10)));
  httplib::Client http("127.0.0.1", http_port);
  http.set_read_timeout(60);
  httplib::Headers auth = {{"Authorization", absl::StrCat("Bearer ", kQueryToken)}};
  auto listed = http.Get("/api/v1/incidents", auth);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200) << listed->body;

  std::vector<int> pids = PostgresPids(*db_);
  ASSERT_GE(pids.size(), 2u);
  db_.reset();  // its connection would hang too
  for (int pid : pids) {
    kill(pid, SIGSTOP);
  }
  const absl::Time start = absl::Now();
  auto acked = http.Post("/api/v1/incidents/svc%2Fglobal_outage%2F1/ack", auth,
                         "{\"by\": \"alice\"}", "application/json");
  const absl::Duration took = absl::Now() - start;
  for (int pid : pids) {
    kill(pid, SIGCONT);
  }
  ASSERT_TRUE(acked) << "no HTTP answer";
  std::cout << "ack with PostgreSQL stopped: HTTP " << acked->status << " after "
            << absl::FormatDuration(took) << ": " << acked->body;
  EXPECT_EQ(acked->status, 503) << acked->body;
  EXPECT_TRUE(absl::StrContains(acked->body, "PostgreSQL did not answer")) << acked->body;
  // 3 s statement timeout + 5 s grace, plus margin for a loaded machine.
  EXPECT_LT(took, absl::Seconds(20));
  EXPECT_GE(took, absl::Seconds(7));
  EXPECT_TRUE(collector_->running());
  // Once PostgreSQL answers again, so does the API.
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto again = http.Get("/api/v1/incidents", auth);
        return again && again->status == 200;
      },
      seconds(30), milliseconds(500)));
}

}  // namespace
}  // namespace sonde
