// Central config at scale (issue 16), with real processes: a collector
// whose one region holds 100,000 HTTP checks (every hour, against faultd on
// loopback, so about 28 probes/s run) and probers that take the region from
// it in bounded parts. One test in phases, so the 100,000-check collector
// starts once:
//   1. a prober applies the version within 10 s of starting and its results
//      are stored (bytes and time printed);
//   2. one check's URL changes: the prober gets a delta (< 10 KiB, printed)
//      and runs the new URL; the check removed stops running;
//   3. a prober with a stored config.pb of an old version gets a full
//      resync; one whose stream is cut mid-transfer keeps running the old
//      version and completes the new one on reconnect;
//   4. collector RSS with 10 probers' streams on the region (printed).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/config_transfer.h"
#include "common/proto_time.h"
#include "common/version/version.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "sonde/v1/collector.grpc.pb.h"
#include "tests/testing/cluster.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"

namespace sonde {
namespace {

using std::chrono::milliseconds;
using testing::Collector;
using testing::ConfigBuilder;
using testing::Db;
using testing::Faultd;
using testing::Postgres;
using testing::Prober;
using testing::ScratchDir;
using testing::WaitUntil;

constexpr int kChecks = 100000;

// VmRSS of a process in MiB (-1 when unreadable).
double RssMib(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      int64_t kib = 0;
      if (f.size() >= 2 && absl::SimpleAtoi(f[1], &kib)) {
        return kib / 1024.0;
      }
    }
  }
  return -1;
}

// A TCP proxy on 127.0.0.1 in front of the collector. The first connection
// is cut (a FIN to the prober, the collector's side closed) once `cut_after`
// bytes came from the collector; until Open(), the
// ones after it are closed at once (the prober keeps retrying).
class CuttingProxy {
 public:
  CuttingProxy(int upstream_port, uint64_t cut_after)
      : upstream_port_(upstream_port), cut_after_(cut_after) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listen_fd_, 16);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~CuttingProxy() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    for (std::thread& t : pumps_) {
      t.join();
    }
    close(listen_fd_);
  }
  int port() const { return port_; }
  void Open() { open_ = true; }
  bool cut() const { return cut_; }

 private:
  void AcceptLoop() {
    int n = 0;
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) {
        continue;
      }
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        continue;
      }
      if (n++ > 0 && !open_) {
        close(client);
        continue;
      }
      int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(upstream_port_);
      if (connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(client);
        close(up);
        continue;
      }
      const bool first = n == 1;
      pumps_.emplace_back([this, client, up, first] { Pump(client, up, first); });
    }
  }

  void Pump(int client, int up, bool first) {
    uint64_t down_bytes = 0;
    char buf[64 << 10];
    while (!stopping_) {
      pollfd p[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
      if (poll(p, 2, 100) <= 0) {
        continue;
      }
      bool done = false;
      for (int i = 0; i < 2 && !done; ++i) {
        if (p[i].revents == 0) {
          continue;
        }
        ssize_t r = read(p[i].fd, buf, sizeof buf);
        if (r <= 0) {
          done = true;
          break;
        }
        int to = i == 0 ? up : client;
        for (ssize_t off = 0; off < r;) {
          ssize_t w = write(to, buf + off, r - off);
          if (w <= 0) {
            done = true;
            break;
          }
          off += w;
        }
        if (i == 1 && first) {
          down_bytes += r;
          if (down_bytes >= cut_after_) {
            cut_ = true;
            done = true;
          }
        }
      }
      if (done) {
        break;
      }
    }
    close(up);
    if (first && cut_) {
      // A FIN after the bytes already forwarded, not a reset that could
      // discard them unread: the prober reads what came, then the end.
      shutdown(client, SHUT_WR);
      Drain(client);
    }
    close(client);
  }

  // Reads and drops what `fd` sends until it closes (at most 10 s).
  static void Drain(int fd) {
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) > 0 && read(fd, buf, sizeof buf) <= 0) {
        return;
      }
    }
  }

  const int upstream_port_;
  const uint64_t cut_after_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false}, open_{false}, cut_{false};
  std::thread accept_thread_;
  std::vector<std::thread> pumps_;  // the accept thread's until the destructor
};

class ConfigDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::make_unique<ScratchDir>("config-delivery");
    ASSERT_FALSE(scratch_->path().empty());
    pg_ = std::make_unique<Postgres>(scratch_->Path("pg"));
    ASSERT_OK(pg_->Start());
    db_ = std::make_unique<Db>(pg_->conninfo());
    faultd_ = std::make_unique<Faultd>(scratch_->path());
    ASSERT_OK(faultd_->Start());
  }

  void TearDown() override {
    if (HasFailure()) {
      testing::KeepAndPrintLogs(scratch_.get(), collector_.get(), probers_);
    }
    probers_.clear();
    collector_.reset();
  }

  // The big region plus one check "moving" every 1 s at `moving_path`
  // (none when empty).
  absl::Status WriteConfig(const std::string& moving_path) {
    ConfigBuilder b;
    b.Regions({"fra"}).Defaults("1h", "2s");
    b.HttpChecks("web", kChecks, faultd_->http_port());
    if (!moving_path.empty()) {
      b.Check(
          absl::StrCat("{name: moving, service: moving, interval: 1s, timeout: 800ms, http: "
                       "{url: 'http://127.0.0.1:",
                       faultd_->http_port(), moving_path, "'}}"));
    }
    return b.WriteTo(config_path());
  }
  std::string config_path() const { return scratch_->Path("sonde.yaml"); }

  Prober* StartProber(const std::string& id, const std::string& collector_address) {
    Prober::Options o;
    o.id = id;
    o.region = "fra";
    o.spool_dir = scratch_->Path(absl::StrCat("spool-", id));
    probers_.push_back(std::make_unique<Prober>(scratch_->Path(id + ".log"), collector_address, o));
    absl::Status st = probers_.back()->Start();
    EXPECT_OK(st);
    return st.ok() ? probers_.back().get() : nullptr;
  }

  static double Metric(const Prober& p, const std::string& name) {
    absl::StatusOr<testing::MetricValues> m = p.Metrics();
    if (!m.ok() || m->count(name) == 0) {
      return -1;
    }
    return m->at(name);
  }

  // Results of check `check` from `prober` stored with target `target`
  // ("" any) that started after `after`.
  int64_t Results(const std::string& prober, const std::string& check, const std::string& target,
                  absl::Time after) {
    std::string sql = absl::StrCat("SELECT count(*) FROM results WHERE prober_id = '", prober,
                                   "' AND check_id = '", check, "' AND started_at > to_timestamp(",
                                   absl::ToUnixMicros(after), " / 1e6)");
    if (!target.empty()) {
      absl::StrAppend(&sql, " AND target LIKE '%", target, "'");
    }
    absl::StatusOr<int64_t> n = db_->Int(sql);
    return n.ok() ? *n : -1;
  }

  // The collector's view of `prober` (sondectl status --probers --format
  // json); an empty message when it is not listed.
  v1::ProberConfigStatus Status(const std::string& prober) {
    std::vector<std::string> argv = {
        testing::BinPath("sondectl"), "status", "--probers", "--format", "json", "--collector",
        collector_->address()};
    for (const std::string& f : testing::PlaintextFlags(testing::BinPath("sondectl"))) {
      argv.push_back(f);
    }
    std::string out;
    v1::ProbersReply reply;
    if (testing::RunCommand(argv, &out) != 0 ||
        !google::protobuf::util::JsonStringToMessage(out, &reply).ok()) {
      ADD_FAILURE() << "sondectl status --probers: " << out;
    }
    for (const v1::ProberConfigStatus& p : reply.probers()) {
      if (p.prober_id() == prober) {
        return p;
      }
    }
    return v1::ProberConfigStatus();
  }

  // The rows of `sql` as text, for failure messages.
  std::string Rows(const std::string& sql) {
    absl::StatusOr<Db::Rows> rows = db_->Query(sql);
    if (!rows.ok()) {
      return std::string(rows.status().message());
    }
    std::string out;
    for (const auto& row : *rows) {
      absl::StrAppend(&out, absl::StrJoin(row, " | "), "\n");
    }
    return out;
  }

  std::unique_ptr<ScratchDir> scratch_;
  std::unique_ptr<Postgres> pg_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<Faultd> faultd_;
  std::unique_ptr<Collector> collector_;
  std::vector<std::unique_ptr<Prober>> probers_;
};

TEST_F(ConfigDeliveryTest, HundredThousandChecksInBoundedPartsAndDeltas) {
  ASSERT_OK(WriteConfig("/moving/a"));
  collector_ = std::make_unique<Collector>(scratch_->Path("collector.log"),
                                           Collector::Options{pg_->conninfo(), config_path(), {}});
  ASSERT_OK(collector_->Start());

  // 1. The whole region through the collector.
  const absl::Time start = absl::Now();
  Prober* p1 = StartProber("p1", collector_->address());
  ASSERT_NE(p1, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return Metric(*p1, "sonde_prober_checks") == kChecks + 1; },
                        milliseconds(30000), milliseconds(100)))
      << "checks: " << Metric(*p1, "sonde_prober_checks");
  const absl::Duration took = absl::Now() - start;
  const double full_bytes = Metric(*p1, "sonde_prober_config_bytes_received_total");
  std::cout << "full version of " << kChecks + 1 << " checks: " << full_bytes << " bytes, applied "
            << absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(1)))
            << " after the prober started\n";
  EXPECT_LE(took, absl::Seconds(10));
  EXPECT_EQ(Metric(*p1, "sonde_prober_config_full_applied_total"), 1);
  EXPECT_GT(full_bytes, 4 << 20);  // more than one gRPC message could carry
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::StatusOr<int64_t> n = db_->Int(
            "SELECT count(DISTINCT check_id) FROM results WHERE prober_id = 'p1' AND check_id "
            "LIKE 'web-%'");
        return n.ok() && *n >= 20;
      },
      milliseconds(30000)))
      << "the big region's checks do not run";

  // The prober said so: the collector shows the version applied.
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::ProberConfigStatus st = Status("p1");
        return !st.applied_version().empty() && st.applied_version() == st.region_version();
      },
      milliseconds(10000)))
      << Status("p1").DebugString();
  EXPECT_EQ(Status("p1").last_transfer(), "full");
  EXPECT_FALSE(Status("p1").has_pending_since());
  // Its result batches carry its status (issue 13): its version, a recent
  // last-seen, its lateness and spool depth.
  {
    const v1::ProberConfigStatus st = Status("p1");
    EXPECT_EQ(st.status().version(), common::kVersion) << st.DebugString();
    ASSERT_TRUE(common::IsSet(st.last_seen())) << st.DebugString();
    EXPECT_LE(absl::Now() - common::ToTime(st.last_seen()), absl::Seconds(30)) << st.DebugString();
    EXPECT_TRUE(st.status().has_lateness_p99()) << st.DebugString();
    EXPECT_TRUE(st.status().has_oldest_unacked_age()) << st.DebugString();
    EXPECT_TRUE(st.status().has_as_of()) << st.DebugString();
  }
  absl::StatusOr<testing::MetricValues> cm = collector_->Metrics();
  ASSERT_TRUE(cm.ok());
  EXPECT_EQ(cm->count("sonde_config_applied_version_info"), 1u);
  EXPECT_EQ(cm->at("sonde_config_delivery_failures_total"), 0);

  // 2. One URL changes: a delta, and the new URL runs. Measured from the
  // file write: the collector notices the edit, re-reads 100,000 checks of
  // YAML, builds the region's delta; the prober applies it and runs the
  // check at its next 1 s slot.
  const double before = Metric(*p1, "sonde_prober_config_bytes_received_total");
  const absl::Time changed_at = absl::Now();
  ASSERT_OK(WriteConfig("/moving/b"));
  const absl::Time written_at = absl::Now();
  ASSERT_TRUE(WaitUntil([&] { return Metric(*p1, "sonde_prober_config_delta_applied_total") == 1; },
                        milliseconds(60000), milliseconds(20)));
  const absl::Time delta_at = absl::Now();
  ASSERT_TRUE(WaitUntil([&] { return Results("p1", "moving", "/moving/b", changed_at) > 0; },
                        milliseconds(30000), milliseconds(50)))
      << "the new URL never ran";
  const absl::Time stored_at = absl::Now();
  // When the new URL first ran: the result's own start time.
  absl::StatusOr<int64_t> first_run_us = db_->Int(
      "SELECT (extract(epoch FROM min(started_at)) * 1e6)::bigint FROM results WHERE prober_id = "
      "'p1' AND check_id = 'moving' AND target LIKE '%/moving/b'");
  ASSERT_OK(first_run_us.status());
  const absl::Time ran_at = absl::FromUnixMicros(*first_run_us);
  const double delta_bytes = Metric(*p1, "sonde_prober_config_bytes_received_total") - before;
  auto ms = [](absl::Duration d) {
    return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
  };
  std::cout << "one URL changed: delta of " << delta_bytes << " bytes on the wire; from the file "
            << "write (" << ms(written_at - changed_at) << " to write " << kChecks + 1
            << " checks): delta applied by the prober after " << ms(delta_at - changed_at)
            << ", the new URL ran after " << ms(ran_at - changed_at) << ", its result stored after "
            << ms(stored_at - changed_at) << "\n";
  // The goal is 5 s from the file write to the new URL running (docs/
  // configuration.md); the margin is for CI load on a shared 2-core machine.
  EXPECT_LE(ran_at - changed_at, absl::Seconds(8));
  EXPECT_LT(delta_bytes, 10 << 10);

  ASSERT_OK(WriteConfig(""));
  ASSERT_TRUE(WaitUntil([&] { return Metric(*p1, "sonde_prober_checks") == kChecks; },
                        milliseconds(30000), milliseconds(100)));
  absl::SleepFor(absl::Seconds(2));  // a run started before the removal may still be stored
  const absl::Time removed = absl::Now();
  absl::SleepFor(absl::Seconds(3));
  EXPECT_EQ(Results("p1", "moving", "", removed), 0)
      << "the removed check still runs: "
      << Rows(absl::StrCat("SELECT min(started_at), max(started_at), now(), to_timestamp(",
                           absl::ToUnixMicros(removed),
                           " / 1e6) FROM results WHERE check_id = 'moving'"));
  EXPECT_EQ(Metric(*p1, "sonde_prober_config_delta_applied_total"), 2);

  // 3a. A stored config.pb of an old version: a full resync.
  v1::ProberConfig old;
  old.set_version("0123456789abcdef");
  v1::Check* c = old.add_checks();
  c->set_name("old-only");
  c->set_service("old");
  c->mutable_interval()->set_seconds(3600);  // stored configs have their defaults filled
  c->mutable_timeout()->set_seconds(2);
  c->mutable_http()->set_url(absl::StrCat("http://127.0.0.1:", faultd_->http_port(), "/old"));
  for (const char* id : {"p2", "p3"}) {
    const std::string dir = scratch_->Path(absl::StrCat("spool-", id));
    ASSERT_EQ(system(absl::StrCat("mkdir -p ", dir).c_str()), 0);
    std::ofstream out(dir + "/config.pb", std::ios::binary);
    ASSERT_TRUE(old.SerializeToOstream(&out));
  }
  Prober* p2 = StartProber("p2", collector_->address());
  ASSERT_NE(p2, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return Metric(*p2, "sonde_prober_checks") == kChecks; },
                        milliseconds(30000), milliseconds(100)));
  EXPECT_EQ(Metric(*p2, "sonde_prober_config_full_applied_total"), 1);
  EXPECT_EQ(Metric(*p2, "sonde_prober_config_delta_applied_total"), 0);

  // 3b. The stream cut mid-transfer: the old version keeps running, the new
  // one completes on reconnect.
  const uint64_t cut_after = static_cast<uint64_t>(full_bytes) / 3;
  CuttingProxy proxy(std::stoi(collector_->address().substr(collector_->address().rfind(':') + 1)),
                     cut_after);
  Prober* p3 = StartProber("p3", absl::StrCat("127.0.0.1:", proxy.port()));
  ASSERT_NE(p3, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return proxy.cut(); }, milliseconds(30000), milliseconds(50)));
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(Metric(*p3, "sonde_prober_checks"), 1) << "p3 no longer runs its stored version";
  EXPECT_EQ(Metric(*p3, "sonde_prober_config_full_applied_total"), 0);
  EXPECT_GE(Metric(*p3, "sonde_prober_config_bytes_received_total"), cut_after / 2);
  // The collector saw the transfer break off.
  ASSERT_TRUE(WaitUntil([&] { return Status("p3").delivery_failures() >= 1; }, milliseconds(10000)))
      << Status("p3").DebugString();
  EXPECT_NE(Status("p3").last_error(), "");
  EXPECT_TRUE(Status("p3").has_pending_since());
  proxy.Open();
  ASSERT_TRUE(WaitUntil([&] { return Metric(*p3, "sonde_prober_checks") == kChecks; },
                        milliseconds(30000), milliseconds(100)))
      << "p3 did not complete the version after reconnecting";
  EXPECT_EQ(Metric(*p3, "sonde_prober_config_full_applied_total"), 1);
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::ProberConfigStatus st = Status("p3");
        return st.applied_version() == st.region_version() && !st.has_pending_since();
      },
      milliseconds(10000)))
      << Status("p3").DebugString();

  // 4. Collector RSS with 10 probers of the region: p1..p3 and 7 streams
  // that take the full version like a prober that runs nothing yet.
  const double rss_before = RssMib(collector_->pid());
  auto channel = grpc::CreateChannel(collector_->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::ConfigService::NewStub(channel);
  struct Watcher {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::ProberConfig>> reader;
  };
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < 7; ++i) {
    auto w = std::make_unique<Watcher>();
    v1::ProberHello hello;
    hello.set_prober_id(absl::StrCat("w", i));
    hello.set_region("fra");
    hello.set_config_protocol(common::kConfigProtocol);
    w->reader = stub->Watch(&w->ctx, hello);
    watchers.push_back(std::move(w));
  }
  double rss_peak = rss_before;
  for (auto& w : watchers) {
    v1::ProberConfig m;
    while (w->reader->Read(&m) && !m.has_end()) {
      rss_peak = std::max(rss_peak, RssMib(collector_->pid()));
    }
    EXPECT_TRUE(m.has_end());
  }
  const double rss_after = RssMib(collector_->pid());
  std::cout << "collector RSS: " << rss_before << " MiB with 3 probers, " << rss_after
            << " MiB with 10 (peak " << rss_peak << " MiB while they loaded; full version "
            << full_bytes / (1 << 20) << " MiB)\n";
  // One shared serialisation: ten probers cost far less than ten copies.
  EXPECT_LT(rss_after - rss_before, 3 * full_bytes / (1 << 20));
  for (auto& w : watchers) {
    w->ctx.TryCancel();
  }
}

}  // namespace
}  // namespace sonde
