// FaultServer's gRPC health listener: grpc.health.v1.Health/Check answered
// per rule (serving status, a non-OK gRPC status, a delay), per service name
// and client address, switched while a client keeps its channel, in plain
// text and over TLS with faultd's CA; counted in the stats.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/unit/faultd/server_fixture.h"

namespace sonde::faultd::testing {
namespace {

namespace health = ::grpc::health::v1;
using Serving = health::HealthCheckResponse;

constexpr ListenerKind kGrpc = ListenerKind::kGrpc;

class GrpcHealthTest : public FaultServerTest {
 protected:
  void Start(const std::string& rules = "") {
    StartServer(rules,
                [](FaultServerOptions& o) { o.grpc_listen = o.grpcs_listen = "127.0.0.1:0"; });
  }

  std::shared_ptr<grpc::Channel> Plain() {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->ports().grpc),
                               grpc::InsecureChannelCredentials());
  }

  struct Answer {
    grpc::Status status;
    Serving::ServingStatus serving = Serving::UNKNOWN;
  };
  static Answer Check(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                      std::chrono::milliseconds deadline = std::chrono::milliseconds(3000)) {
    auto stub = health::Health::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    health::HealthCheckRequest req;
    req.set_service(service);
    Serving resp;
    Answer a;
    a.status = stub->Check(&ctx, req, &resp);
    a.serving = resp.status();
    return a;
  }
};

TEST_F(GrpcHealthTest, ServesByDefaultAndAnswersPerServiceRule) {
  Start(R"([{"id": "orders", "listener": "grpc", "service": "shop.Orders",
             "serving_status": "NOT_SERVING"}])");
  ASSERT_GT(server_->ports().grpc, 0);
  auto channel = Plain();
  Answer all = Check(channel, "");
  ASSERT_TRUE(all.status.ok()) << all.status.error_message();
  EXPECT_EQ(all.serving, Serving::SERVING);
  Answer orders = Check(channel, "shop.Orders");
  ASSERT_TRUE(orders.status.ok()) << orders.status.error_message();
  EXPECT_EQ(orders.serving, Serving::NOT_SERVING);

  StatsSnapshot s = server_->stats();
  EXPECT_EQ(s.Listener(kGrpc, "checks"), 2u);
  EXPECT_EQ(s.Rule(0, "checks"), 1u);
  EXPECT_EQ(s.Rule(0, "serving_NOT_SERVING"), 1u);
  EXPECT_EQ(s.Unmatched(kGrpc, "serving_SERVING"), 1u);
}

TEST_F(GrpcHealthTest, MatchesTheClientAddress) {
  Start(R"([{"listener": "grpc", "source": "127.0.0.9", "serving_status": "UNKNOWN"},
            {"listener": "grpc", "source": "127.0.0.0/30", "serving_status": "NOT_SERVING"}])");
  EXPECT_EQ(Check(Plain(), "").serving, Serving::NOT_SERVING);
  EXPECT_EQ(server_->stats().Rule(1, "checks"), 1u);
}

TEST_F(GrpcHealthTest, SwitchesWhileTheClientKeepsItsChannel) {
  Start();
  auto channel = Plain();
  EXPECT_EQ(Check(channel, "").serving, Serving::SERVING);
  SetRules(R"([{"listener": "grpc", "serving_status": "NOT_SERVING"}])");
  EXPECT_EQ(Check(channel, "").serving, Serving::NOT_SERVING);
  SetRules(R"([{"listener": "grpc", "serving_status": "UNKNOWN"}])");
  Answer unknown = Check(channel, "");
  ASSERT_TRUE(unknown.status.ok());
  EXPECT_EQ(unknown.serving, Serving::UNKNOWN);
  SetRules("[]");
  EXPECT_EQ(Check(channel, "").serving, Serving::SERVING);
}

TEST_F(GrpcHealthTest, NonOkStatusInsteadOfAnAnswer) {
  Start(R"([{"listener": "grpc", "grpc_status": "PERMISSION_DENIED",
             "grpc_message": "not for you"}])");
  Answer a = Check(Plain(), "");
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(a.status.error_message(), "not for you");
  EXPECT_EQ(server_->stats().Rule(0, "grpc_status_PERMISSION_DENIED"), 1u);
}

TEST_F(GrpcHealthTest, DelayOutlastsTheClientDeadlineAndIsCancelled) {
  Start(R"([{"listener": "grpc", "delay_ms": 5000}])");
  auto channel = Plain();
  auto start = std::chrono::steady_clock::now();
  Answer a = Check(channel, "", std::chrono::milliseconds(300));
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_TRUE(Eventually([&] { return server_->stats().Rule(0, "cancelled") == 1; }));
  // A shorter delay is answered.
  SetRules(R"([{"listener": "grpc", "delay_ms": 200, "serving_status": "NOT_SERVING"}])");
  start = std::chrono::steady_clock::now();
  Answer late = Check(channel, "");
  ASSERT_TRUE(late.status.ok()) << late.status.error_message();
  EXPECT_EQ(late.serving, Serving::NOT_SERVING);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
}

TEST_F(GrpcHealthTest, StopFinishesCallsStillWaiting) {
  Start(R"([{"listener": "grpc", "delay_ms": 60000}])");
  auto stub = health::Health::NewStub(Plain());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  health::HealthCheckRequest req;
  Serving resp;
  grpc::CompletionQueue cq;
  auto call = stub->AsyncCheck(&ctx, req, &cq);
  grpc::Status status;
  call->Finish(&resp, &status, reinterpret_cast<void*>(1));
  ASSERT_TRUE(Eventually([&] { return server_->stats().Listener(kGrpc, "checks") == 1; }));
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_FALSE(status.ok());
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(GrpcHealthTest, TlsWithTheFaultdCa) {
  Start(R"([{"listener": "grpc", "service": "tls", "serving_status": "NOT_SERVING"}])");
  ASSERT_GT(server_->ports().grpcs, 0);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = server_->ca_pem();
  auto channel = grpc::CreateChannel(absl::StrCat("localhost:", server_->ports().grpcs),
                                     grpc::SslCredentials(ssl));
  Answer a = Check(channel, "tls");
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.serving, Serving::NOT_SERVING);
  // An untrusting client fails the handshake: UNAVAILABLE.
  grpc::SslCredentialsOptions other;
  other.pem_root_certs = server_->certs().LeafPem(CertKind::kSelfSigned);
  auto untrusting = grpc::CreateChannel(absl::StrCat("localhost:", server_->ports().grpcs),
                                        grpc::SslCredentials(other));
  EXPECT_EQ(Check(untrusting, "tls", std::chrono::milliseconds(2000)).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace sonde::faultd::testing
