// ConfigHolder and ConfigService.Watch over in-process gRPC; no database.
#include "collector/api/config_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config/config_transfer.h"
#include "grpcpp/grpcpp.h"

namespace sonde::collector {
namespace {

v1::Check HttpCheck(const std::string& name, std::vector<std::string> regions,
                    const std::string& url) {
  v1::Check c;
  c.set_name(name);
  c.set_service("svc");
  for (auto& r : regions) {
    c.add_regions(r);
  }
  c.mutable_http()->set_url(url);
  return c;
}

v1::Config TwoRegions() {
  v1::Config config;
  config.add_regions("fra");
  config.add_regions("ams");
  *config.add_checks() = HttpCheck("only-fra", {"fra"}, "https://a.test/");
  *config.add_checks() = HttpCheck("everywhere", {}, "https://b.test/");
  return config;
}

std::vector<std::string> Names(const v1::ProberConfig& pc) {
  std::vector<std::string> out;
  for (const v1::Check& c : pc.checks()) {
    out.push_back(c.name());
  }
  return out;
}

class ConfigServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    holder_ = std::make_unique<ConfigHolder>(TwoRegions());
    service_ = std::make_unique<ConfigService>(holder_.get(), absl::Milliseconds(50));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::ConfigService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    holder_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  static void SetDeadline(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

  std::unique_ptr<ConfigHolder> holder_;
  std::unique_ptr<ConfigService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ConfigService::Stub> stub_;
};

TEST_F(ConfigServiceTest, SendsTheRegionsChecksAtOnceAndAgainOnlyWhenTheyChange) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ProberHello hello;
  hello.set_prober_id("p1");
  hello.set_region("fra");
  auto reader = stub_->Watch(&ctx, hello);
  v1::ProberConfig first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(Names(first), (std::vector<std::string>{"only-fra", "everywhere"}));
  EXPECT_EQ(first.version().size(), 16u);

  // A change that does not touch fra's checks sends nothing to fra...
  v1::Config ams_only = TwoRegions();
  *ams_only.add_checks() = HttpCheck("only-ams", {"ams"}, "https://c.test/");
  holder_->Set(ams_only);
  absl::SleepFor(absl::Milliseconds(200));  // the watcher has woken and decided
  // ...so the next message fra sees is the one for this change.
  v1::Config changed = ams_only;
  changed.mutable_checks(1)->mutable_http()->set_url("https://b2.test/");
  holder_->Set(changed);
  v1::ProberConfig second;
  ASSERT_TRUE(reader->Read(&second));
  EXPECT_NE(second.version(), first.version());
  ASSERT_EQ(second.checks_size(), 2);
  EXPECT_EQ(second.checks(1).http().url(), "https://b2.test/");

  ctx.TryCancel();
  v1::ProberConfig ignored;
  while (reader->Read(&ignored)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ConfigServiceTest, AContractOneProberCountsAsApplyingWhatItIsSent) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ProberHello hello;
  hello.set_prober_id("old");
  hello.set_region("fra");
  auto reader = stub_->Watch(&ctx, hello);
  v1::ProberConfig pc;
  ASSERT_TRUE(reader->Read(&pc));
  // The service records the delivery once its write returned, which may be
  // just after the message reached us.
  v1::ProberConfigStatus s;
  for (absl::Time until = absl::Now() + absl::Seconds(5); absl::Now() < until;
       absl::SleepFor(absl::Milliseconds(5))) {
    std::vector<v1::ProberConfigStatus> all = service_->deliveries().Snapshot();
    ASSERT_LE(all.size(), 1u);
    if (!all.empty() && !all[0].last_transfer().empty()) {
      s = all[0];
      break;
    }
  }
  EXPECT_EQ(s.last_transfer(), "legacy");
  EXPECT_EQ(s.applied_version(), pc.version());
  EXPECT_FALSE(s.has_pending_since());
  ctx.TryCancel();
}

// Reads one contract-2 transfer (header .. end) into `running`.
void ReadTransfer(grpc::ClientReader<v1::ProberConfig>* reader, common::CheckSet* running,
                  v1::ConfigHeader* header) {
  common::TransferAssembler assembler;
  v1::ProberConfig m;
  while (reader->Read(&m)) {
    if (m.has_header()) {
      *header = m.header();
    }
    absl::StatusOr<bool> done = assembler.Feed(m);
    ASSERT_TRUE(done.ok()) << done.status();
    if (*done) {
      absl::StatusOr<common::CheckSet> next = running->Apply(assembler.Take());
      ASSERT_TRUE(next.ok()) << next.status();
      *running = *std::move(next);
      return;
    }
  }
  FAIL() << "the stream ended inside a transfer";
}

TEST_F(ConfigServiceTest, ContractTwoSendsPartsThenADeltaAgainstTheRunningVersion) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ProberHello hello;
  hello.set_prober_id("p1");
  hello.set_region("fra");
  hello.set_config_protocol(common::kConfigProtocol);
  auto reader = stub_->Watch(&ctx, hello);
  common::CheckSet running;
  v1::ConfigHeader header;
  ReadTransfer(reader.get(), &running, &header);
  EXPECT_TRUE(header.base_version().empty());
  EXPECT_EQ(running.size(), 2u);
  EXPECT_EQ(running.version(), ProberConfigFor(*holder_->Get(), "fra").version());

  v1::Config changed = TwoRegions();
  changed.mutable_checks(1)->mutable_http()->set_url("https://b2.test/");
  holder_->Set(changed);
  const std::string base = running.version();
  ReadTransfer(reader.get(), &running, &header);
  EXPECT_EQ(header.base_version(), base);
  EXPECT_EQ(header.checks(), 2u);
  EXPECT_EQ(running.ToProberConfig().checks(0).http().url(), "https://b2.test/");
  ctx.TryCancel();
}

TEST_F(ConfigServiceTest, AProberOnTheCurrentVersionIsSentNothingAndAnOldOneAFullVersion) {
  const std::string current = ProberConfigFor(*holder_->Get(), "fra").version();
  for (const std::string& runs : {current, std::string("0123456789abcdef")}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    v1::ProberHello hello;
    hello.set_region("fra");
    hello.set_config_protocol(common::kConfigProtocol);
    hello.set_applied_config_version(runs);
    auto reader = stub_->Watch(&ctx, hello);
    v1::ProberConfig m;
    const bool got = reader->Read(&m);
    EXPECT_EQ(got, runs != current) << runs;
    if (got) {
      EXPECT_TRUE(m.has_header());
      EXPECT_TRUE(m.header().base_version().empty());
    }
    ctx.TryCancel();
  }
}

TEST(ConfigDeliveriesTest, PendingUntilReportedFailuresCountedAndExported) {
  ConfigDeliveries d;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  d.Connected("p1", "fra", "", t0);
  d.Sent("p1", "v2", "full", 1234, t0);
  d.Failed("p1", "stream gone after 10 of 1234 bytes", t0 + absl::Seconds(1));
  ASSERT_EQ(d.Snapshot().size(), 1u);
  EXPECT_EQ(d.Snapshot()[0].delivery_failures(), 1u);
  EXPECT_TRUE(d.Snapshot()[0].has_pending_since());
  EXPECT_TRUE(d.Overdue(t0 + absl::Seconds(30), absl::Minutes(1)).empty());
  EXPECT_EQ(d.Overdue(t0 + absl::Seconds(61), absl::Minutes(1)).size(), 1u);

  v1::ConfigReport applied;
  applied.set_prober_id("p1");
  applied.set_region("fra");
  applied.set_applied_version("v2");
  d.Reported(applied, t0 + absl::Seconds(2));
  v1::ProberConfigStatus s = d.Snapshot()[0];
  EXPECT_EQ(s.applied_version(), "v2");
  EXPECT_FALSE(s.has_pending_since());
  EXPECT_TRUE(d.Overdue(t0 + absl::Hours(1), absl::Minutes(1)).empty());

  common::MetricsText m;
  d.AppendMetrics(&m);
  EXPECT_NE(m.text().find("sonde_config_applied_version_info{prober=\"p1\",region=\"fra\","
                          "version=\"v2\"} 1"),
            std::string::npos)
      << m.text();
  EXPECT_NE(m.text().find("sonde_config_delivery_failures_total{prober=\"p1\",region=\"fra\"} 1"),
            std::string::npos)
      << m.text();
  d.Disconnected("p1");
  EXPECT_FALSE(d.Snapshot()[0].connected());
}

TEST(RegionVersionsTest, AVersionIsBuiltOncePerGenerationAndShared) {
  RegionVersions versions;
  v1::Config config = TwoRegions();
  auto a = versions.For(config, 1, "fra");
  auto b = versions.For(config, 1, "fra");
  EXPECT_EQ(a.get(), b.get());
  // A new generation that leaves fra's checks alone keeps fra's version.
  EXPECT_EQ(versions.For(config, 2, "fra").get(), a.get());
  EXPECT_NE(versions.For(config, 2, "ams").get(), a.get());
}

TEST_F(ConfigServiceTest, AnUnknownRegionIsAFailedPreconditionNamingTheKnownOnes) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ProberHello hello;
  hello.set_prober_id("p1");
  hello.set_region("mars");
  auto reader = stub_->Watch(&ctx, hello);
  v1::ProberConfig pc;
  EXPECT_FALSE(reader->Read(&pc));
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "\"mars\"")) << st.error_message();
  EXPECT_TRUE(absl::StrContains(st.error_message(), "fra, ams")) << st.error_message();
}

TEST_F(ConfigServiceTest, AnEmptyRegionIsInvalid) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto reader = stub_->Watch(&ctx, v1::ProberHello());
  v1::ProberConfig pc;
  EXPECT_FALSE(reader->Read(&pc));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ConfigServiceTest, ShutdownEndsWatchersPromptly) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ProberHello hello;
  hello.set_region("ams");
  auto reader = stub_->Watch(&ctx, hello);
  v1::ProberConfig pc;
  ASSERT_TRUE(reader->Read(&pc));
  EXPECT_EQ(Names(pc), (std::vector<std::string>{"everywhere"}));
  const absl::Time start = absl::Now();
  holder_->Shutdown();
  EXPECT_FALSE(reader->Read(&pc));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(ConfigHolderTest, WaitForChangeWakesOnSetAndTimesOut) {
  ConfigHolder holder;
  ConfigHolder::Snapshot s0 = holder.Current();
  ConfigHolder::Snapshot timed_out = holder.WaitForChange(s0.generation, absl::Milliseconds(20));
  EXPECT_EQ(timed_out.generation, s0.generation);
  std::thread setter([&] {
    absl::SleepFor(absl::Milliseconds(50));
    holder.Set(TwoRegions());
  });
  ConfigHolder::Snapshot s1 = holder.WaitForChange(s0.generation, absl::Seconds(10));
  setter.join();
  EXPECT_NE(s1.generation, s0.generation);
  EXPECT_EQ(s1.config->checks_size(), 2);
  EXPECT_FALSE(s1.shutting_down);
}

TEST(ConfigVersionTest, DependsOnTheChecksOnly) {
  v1::Config a = TwoRegions();
  v1::Config b = TwoRegions();
  EXPECT_EQ(ProberConfigFor(a, "fra").version(), ProberConfigFor(b, "fra").version());
  EXPECT_NE(ProberConfigFor(a, "fra").version(), ProberConfigFor(a, "ams").version());
  (*b.mutable_checks(0)->mutable_labels())["team"] = "web";
  EXPECT_NE(ProberConfigFor(a, "fra").version(), ProberConfigFor(b, "fra").version());
  // ams does not run check 0, so its version stays.
  EXPECT_EQ(ProberConfigFor(a, "ams").version(), ProberConfigFor(b, "ams").version());
  EXPECT_TRUE(CheckRegionKnown(a, "fra").ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckRegionKnown(a, "ber")));
  EXPECT_TRUE(CheckRegionKnown(v1::Config(), "anywhere").ok());  // no regions listed
}

TEST(ConfigVersionTest, ProbePolicyTravelsWithTheChecksAndChangesTheVersion) {
  v1::Config a = TwoRegions();
  v1::Config b = TwoRegions();
  b.mutable_probe_policy()->add_deny_networks("169.254.0.0/16");
  const v1::ProberConfig pc = ProberConfigFor(b, "fra");
  ASSERT_EQ(pc.probe_policy().deny_networks_size(), 1);
  EXPECT_EQ(pc.probe_policy().deny_networks(0), "169.254.0.0/16");
  EXPECT_NE(ProberConfigFor(a, "fra").version(), pc.version());
  EXPECT_FALSE(ProberConfigFor(a, "fra").has_probe_policy());
}

}  // namespace
}  // namespace sonde::collector
