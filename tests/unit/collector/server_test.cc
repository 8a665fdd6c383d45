// CollectorServer's lifecycle pieces that need no database: config reload,
// binding, giving up on an unreachable database when asked to stop.
#include "collector/server.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/metrics.h"

namespace sonde::collector {
namespace {

constexpr char kGood[] = R"(regions: [fra, ams]
checks:
  - name: a
    http: {url: "https://a.test/"}
)";
constexpr char kBetter[] = R"(regions: [fra, ams]
checks:
  - name: a
    http: {url: "https://a.test/"}
  - name: b
    tcp: {host: b.test, port: 22}
)";
constexpr char kBad[] = R"(regions: [fra]
checks:
  - name: a
    tcp: {host: b.test, port: 70000}
)";

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sonde-server-test.XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
  }
  void TearDown() override { std::remove(path_.c_str()); }

  void Write(const char* text) { std::ofstream(path_) << text; }

  CollectorOptions Options() {
    CollectorOptions o;
    o.listen = "127.0.0.1:0";
    o.postgres = "host=127.0.0.1 port=1 user=sonde dbname=sonde connect_timeout=1";
    o.config_path = path_;
    return o;
  }

  std::string path_;
};

TEST_F(ServerTest, ReloadReplacesTheConfigAndABadFileKeepsTheOldOne) {
  Write(kGood);
  CollectorServer server(Options(), v1::Config());
  ASSERT_TRUE(server.ReloadConfig().ok());
  EXPECT_EQ(server.config().Get()->checks_size(), 1);
  Write(kBetter);
  ASSERT_TRUE(server.ReloadConfig().ok());
  EXPECT_EQ(server.config().Get()->checks_size(), 2);
  const uint64_t generation = server.config().Current().generation;
  Write(kBad);
  absl::Status st = server.ReloadConfig();
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_EQ(server.config().Get()->checks_size(), 2);
  EXPECT_EQ(server.config().Current().generation, generation);
}

// What an operator sees of reloads: /metrics counts them and shows the
// checks in force.
TEST_F(ServerTest, ReloadsAndRefusedReloadsAreCountedInMetrics) {
  Write(kGood);
  CollectorServer server(Options(), v1::Config());
  ASSERT_TRUE(server.ReloadConfig().ok());
  Write(kBetter);
  ASSERT_TRUE(server.ReloadConfig().ok());
  Write(kBad);
  EXPECT_FALSE(server.ReloadConfig().ok());
  common::MetricsText m;
  server.AppendMetrics(&m);
  EXPECT_TRUE(absl::StrContains(m.text(), "\nsonde_config_reloads_total 2\n")) << m.text();
  EXPECT_TRUE(absl::StrContains(m.text(), "\nsonde_config_reload_failures_total 1\n")) << m.text();
  EXPECT_TRUE(absl::StrContains(m.text(), "\nsonde_config_checks 2\n")) << m.text();
}

TEST_F(ServerTest, AnEditedFileIsReloadedWithoutASignalAndABadEditIsIgnored) {
  Write(kGood);
  CollectorServer server(Options(), v1::Config());
  ASSERT_TRUE(server.ReloadConfig().ok());
  server.WatchConfigFile(absl::Milliseconds(20));
  Write(kBetter);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server.config().Get()->checks_size() != 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(server.config().Get()->checks_size(), 2);
  const uint64_t generation = server.config().Current().generation;
  Write(kBad);
  absl::SleepFor(absl::Milliseconds(300));  // many watch periods
  EXPECT_EQ(server.config().Get()->checks_size(), 2);
  EXPECT_EQ(server.config().Current().generation, generation);
  server.Shutdown(absl::Seconds(1));
}

TEST_F(ServerTest, StartBindsAndASecondServerOnThePortFails) {
  CollectorServer first(Options(), v1::Config());
  absl::Status started = first.Start();
  ASSERT_TRUE(started.ok()) << started;
  ASSERT_GT(first.port(), 0);
  CollectorOptions same = Options();
  same.listen = absl::StrCat("127.0.0.1:", first.port());
  CollectorServer second(same, v1::Config());
  absl::Status st = second.Start();
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  first.Shutdown(absl::Seconds(1));
}

TEST_F(ServerTest, PrepareDatabaseRetriesUntilAskedToStop) {
  CollectorServer server(Options(), v1::Config());
  absl::Notification stop;
  std::thread stopper([&stop] {
    absl::SleepFor(absl::Milliseconds(300));
    stop.Notify();
  });
  const absl::Time start = absl::Now();
  absl::Status st = server.PrepareDatabase(&stop);
  stopper.join();
  EXPECT_TRUE(absl::IsCancelled(st)) << st;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(ServerTest, PrepareDatabaseGivesUpOnPermanentErrors) {
  CollectorOptions o = Options();
  o.postgres = "host=127.0.0.1 port";  // syntax: retrying cannot fix it
  CollectorServer server(o, v1::Config());
  absl::Notification never;
  absl::Status st = server.PrepareDatabase(&never);
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
}

}  // namespace
}  // namespace sonde::collector
