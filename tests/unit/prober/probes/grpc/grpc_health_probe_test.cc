// The gRPC health probe through the production path (config YAML ->
// Scheduler -> MakeProbe on one EventLoop) against an in-process faultd
// whose health answer the test switches: SERVING, NOT_SERVING and back, a
// per-service answer, a non-OK status, an answer later than the deadline, a
// closed port, TLS with and without faultd's CA; plus the client's channel
// reuse and that a pending call never holds the loop. Loopback only.
#include "prober/probes/grpc/grpc_health_probe.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/config.h"
#include "common/logging.h"
#include "gtest/gtest.h"
#include "prober/probes/grpc/health_client.h"
#include "tests/faultd/fault_server.h"
#include "tests/testing/process.h"
#include "tests/unit/prober/probes/prober_under_test.h"

namespace sonde::prober {
namespace {

using FC = v1::FailureClass;

// A port nothing listens on.
int ClosedPort() { return sonde::testing::FreePort(); }

class GrpcHealthProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    faultd::FaultServerOptions o;
    o.grpc_listen = o.grpcs_listen = "127.0.0.1:0";
    server_ = std::make_unique<faultd::FaultServer>(std::move(o));
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
    ca_file_ = absl::StrCat(::testing::TempDir(), "/grpc_probe_ca.", getpid(), ".pem");
    std::ofstream(ca_file_) << server_->ca_pem();
  }
  void TearDown() override {
    server_.reset();
    unlink(ca_file_.c_str());
  }

  std::string Plain() const { return absl::StrCat("127.0.0.1:", server_->ports().grpc); }

  static v1::Check MakeCheck(const std::string& spec, const std::string& timeout = "2s") {
    std::string yaml = absl::StrCat("checks:\n  - name: health\n    interval: 30s\n",
                                    "    timeout: ", timeout, "\n    ", spec, "\n");
    auto config = common::ParseConfig(yaml, "grpc.yaml");
    EXPECT_TRUE(config.ok()) << config.status() << "\n" << yaml;
    return config.ok() ? config->checks(0) : v1::Check();
  }

  void SetRules(const std::string& json) {
    absl::Status s = server_->SetRulesJson(json);
    ASSERT_TRUE(s.ok()) << s;
  }

  // One run through the scheduler; exactly one result.
  v1::ProbeResult RunOnce(ProberUnderTest& prober, const v1::Check& check) {
    std::vector<v1::ProbeResult> results = prober.Run(check);
    EXPECT_EQ(results.size(), 1u);
    return results.empty() ? v1::ProbeResult() : results[0];
  }

  std::unique_ptr<faultd::FaultServer> server_;
  std::string ca_file_;
};

TEST_F(GrpcHealthProbeTest, SwitchedBetweenServingAndNotServing) {
  ProberUnderTest prober;
  v1::Check check = MakeCheck(absl::StrCat("grpc: {target: '", Plain(), "'}"));

  v1::ProbeResult r = RunOnce(prober, check);
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "OK") << r.detail();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.kind(), "grpc");
  EXPECT_EQ(r.target(), Plain());
  EXPECT_EQ(r.grpc_status_code(), 0);
  EXPECT_EQ(r.grpc_serving_status(), "SERVING");
  EXPECT_GT(r.total_us(), 0u);

  SetRules(R"([{"listener": "grpc", "serving_status": "NOT_SERVING"}])");
  r = RunOnce(prober, check);
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "GRPC_NOT_SERVING") << r.detail();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.grpc_serving_status(), "NOT_SERVING");
  EXPECT_TRUE(absl::StrContains(r.detail(), "NOT_SERVING")) << r.detail();

  SetRules("[]");
  r = RunOnce(prober, check);
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "OK") << r.detail();
  EXPECT_EQ(server_->stats().Listener(faultd::ListenerKind::kGrpc, "checks"), 3u);
}

TEST_F(GrpcHealthProbeTest, AsksAboutTheConfiguredService) {
  SetRules(R"([{"listener": "grpc", "service": "shop.Orders", "serving_status": "NOT_SERVING"},
               {"listener": "grpc", "service": "shop.Cart", "serving_status": "UNKNOWN"}])");
  ProberUnderTest prober;
  auto check = [&](const std::string& service) {
    return MakeCheck(absl::StrCat("grpc: {target: '", Plain(), "', service: ", service, "}"));
  };
  EXPECT_EQ(FC::Code_Name(RunOnce(prober, check("shop.Orders")).failure_class()),
            "GRPC_NOT_SERVING");
  v1::ProbeResult cart = RunOnce(prober, check("shop.Cart"));
  EXPECT_EQ(FC::Code_Name(cart.failure_class()), "GRPC_NOT_SERVING");
  EXPECT_EQ(cart.grpc_serving_status(), "UNKNOWN");
  EXPECT_EQ(FC::Code_Name(RunOnce(prober, check("shop.Other")).failure_class()), "OK");
}

TEST_F(GrpcHealthProbeTest, FailedCallsAreClassified) {
  ProberUnderTest prober;
  v1::ProbeResult closed =
      RunOnce(prober, MakeCheck(absl::StrCat("grpc: {target: '127.0.0.1:", ClosedPort(), "'}")));
  EXPECT_EQ(FC::Code_Name(closed.failure_class()), "GRPC_UNAVAILABLE") << closed.detail();
  EXPECT_EQ(closed.grpc_status_code(), static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  EXPECT_EQ(closed.grpc_serving_status(), "");

  SetRules(
      R"([{"listener": "grpc", "grpc_status": "NOT_FOUND", "grpc_message": "unknown service"}])");
  v1::ProbeResult status =
      RunOnce(prober, MakeCheck(absl::StrCat("grpc: {target: '", Plain(), "'}")));
  EXPECT_EQ(FC::Code_Name(status.failure_class()), "GRPC_STATUS") << status.detail();
  EXPECT_EQ(status.grpc_status_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_TRUE(absl::StrContains(status.detail(), "NOT_FOUND")) << status.detail();
}

TEST_F(GrpcHealthProbeTest, LateAnswerIsADeadlineAndTheLoopStaysFree) {
  SetRules(R"([{"listener": "grpc", "delay_ms": 3000}])");
  ProberUnderTest prober;
  v1::Check check = MakeCheck(absl::StrCat("grpc: {target: '", Plain(), "'}"), "500ms");
  // A timer armed while the call is out fires on time: nothing waits on gRPC.
  absl::Time timer_fired;
  absl::Time start = absl::Now();
  std::vector<v1::ProbeResult> results = prober.Run(check, [&] {
    prober.loop().RunAfter(std::chrono::milliseconds(100), [&] { timer_fired = absl::Now(); });
  });
  absl::Duration took = absl::Now() - start;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(FC::Code_Name(results[0].failure_class()), "GRPC_DEADLINE") << results[0].detail();
  EXPECT_LT(took, absl::Milliseconds(500 + 500));
  EXPECT_GE(took, absl::Milliseconds(450));
  ASSERT_NE(timer_fired, absl::Time());
  EXPECT_LT(timer_fired - start, absl::Milliseconds(300));
}

TEST_F(GrpcHealthProbeTest, TlsTrustsTheConfiguredCa) {
  SetRules(R"([{"listener": "grpc", "serving_status": "SERVING"}])");
  ProberUnderTest prober;
  std::string target = absl::StrCat("127.0.0.1:", server_->ports().grpcs);
  v1::ProbeResult ok =
      RunOnce(prober, MakeCheck(absl::StrCat("grpc: {target: '", target, "', tls: true, ca_file: '",
                                             ca_file_, "', server_name: localhost}")));
  EXPECT_EQ(FC::Code_Name(ok.failure_class()), "OK") << ok.detail();
  // Without faultd's CA the handshake fails: no connection.
  v1::ProbeResult untrusted =
      RunOnce(prober, MakeCheck(absl::StrCat("grpc: {target: '", target, "', tls: true}")));
  EXPECT_EQ(FC::Code_Name(untrusted.failure_class()), "GRPC_UNAVAILABLE") << untrusted.detail();
}

// With a probe policy the probe resolves the target itself, judges the
// address and pins the call to it: refused as PROBER_POLICY without a call,
// or, when allowed, the same answers as without a policy (TLS keeps the
// configured name).
TEST_F(GrpcHealthProbeTest, ProbePolicyJudgesThePinnedAddress) {
  SetRules(R"([{"listener": "grpc", "serving_status": "SERVING"}])");
  v1::ProbePolicy deny;
  deny.add_deny_networks("127.0.0.0/8");
  ProberUnderTest refused;
  refused.set_policy(*common::ProbePolicy::Create(deny));
  v1::ProbeResult r = RunOnce(refused, MakeCheck(absl::StrCat("grpc: {target: '", Plain(), "'}")));
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "PROBER_POLICY") << r.detail();
  EXPECT_TRUE(absl::StrContains(r.detail(), "in deny_networks 127.0.0.0/8")) << r.detail();

  v1::ProbePolicy other;
  other.add_deny_networks("169.254.0.0/16");
  ProberUnderTest allowed;
  allowed.set_policy(*common::ProbePolicy::Create(other));
  r = RunOnce(allowed, MakeCheck(absl::StrCat("grpc: {target: '", Plain(), "'}")));
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "OK") << r.detail();
  EXPECT_EQ(r.resolved_address(), "127.0.0.1");
  const std::string tls = absl::StrCat("127.0.0.1:", server_->ports().grpcs);
  r = RunOnce(allowed, MakeCheck(absl::StrCat("grpc: {target: '", tls, "', tls: true, ca_file: '",
                                              ca_file_, "', server_name: localhost}")));
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "OK") << r.detail();
}

TEST_F(GrpcHealthProbeTest, ConfigErrorsNameTheField) {
  struct Case {
    std::string spec;
    std::string field;
  } cases[] = {
      {"grpc: {}", "grpc.target"},
      {"grpc: {target: 'host'}", "grpc.target"},
      {"grpc: {target: 'h:1', ca_file: '/x'}", "grpc.ca_file"},
      {"grpc: {target: 'h:1', server_name: 'x'}", "grpc.server_name"},
  };
  for (const Case& c : cases) {
    std::string yaml = absl::StrCat("checks:\n  - name: health\n    ", c.spec, "\n");
    auto config = common::ParseConfig(yaml, "grpc.yaml");
    ASSERT_FALSE(config.ok()) << c.spec;
    EXPECT_TRUE(absl::StrContains(config.status().message(), c.field))
        << c.spec << " -> " << config.status();
  }
}

// The client shares one channel per target between calls and probes.
TEST(GrpcHealthClientTest, OneChannelPerTarget) {
  common::EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  std::shared_ptr<GrpcHealthClient> client = GrpcHealthClient::Shared(&loop);
  EXPECT_EQ(GrpcHealthClient::Shared(&loop), client);
  auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(200);
  int answered = 0;
  auto count = [&](GrpcCheckAnswer) {
    if (++answered == 3) {
      loop.Stop();
    }
  };
  int port = ClosedPort();
  GrpcEndpoint a;
  a.target = absl::StrCat("127.0.0.1:", port);
  GrpcEndpoint b;
  b.target = absl::StrCat("localhost:", port);
  ASSERT_TRUE(client->Check(a, "", deadline, count).ok());
  ASSERT_TRUE(client->Check(a, "x", deadline, count).ok());
  ASSERT_TRUE(client->Check(b, "", deadline, count).ok());
  EXPECT_EQ(client->channel_count(), 2u);
  auto safety = loop.RunAfter(std::chrono::seconds(5), [&] { loop.Stop(); });
  loop.Run();
  loop.Cancel(safety);
  EXPECT_EQ(answered, 3);
  GrpcEndpoint bad;
  bad.target = "127.0.0.1:1";
  bad.tls = true;
  bad.ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(client->Check(bad, "", deadline, count).ok());
}

}  // namespace
}  // namespace sonde::prober
