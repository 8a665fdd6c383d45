// Identity and access: a real collector with mTLS and tokens; raw gRPC
// clients with and without the right credentials; a real prober with its
// certificate. Real PostgreSQL, loopback only.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/tls/credentials.h"
#include "grpcpp/grpcpp.h"
#include "sonde/v1/collector.grpc.pb.h"
#include "tests/testing/process.h"

namespace sonde {
namespace {

using sonde::testing::BinPath;
using sonde::testing::FreePort;
using sonde::testing::Process;
using sonde::testing::RunCommand;
using std::chrono::seconds;

constexpr char kProberToken[] = "ber-token-0123456789abcdef";
constexpr char kQueryToken[] = "query-token-0123456789abcdef";

std::string SourceDir() {
  const char* s = std::getenv("SONDE_SOURCE_DIR");
  return s != nullptr ? s : ".";
}

std::string Read(const std::string& path) { return *common::ReadTextFile("test", path); }

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/sonde-auth.XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::filesystem::permissions(dir_, std::filesystem::perms::all);
    std::string out;
    ASSERT_EQ(RunCommand({"/bin/bash", SourceDir() + "/deploy/certs/make-certs.sh", dir_ + "/certs",
                          "localhost", "p-ams:ams", "p-fra:fra"},
                         &out),
              0)
        << out;
    pg_port_ = FreePort();
    ASSERT_EQ(RunCommand({"/bin/bash", SourceDir() + "/deploy/local-postgres.sh", "start",
                          dir_ + "/pg", std::to_string(pg_port_)},
                         &out, seconds(120)),
              0)
        << out;
    conninfo_ = absl::StrCat("host=127.0.0.1 port=", pg_port_, " user=sonde dbname=sonde");
    std::ofstream(dir_ + "/tokens.yaml")
        << "probers:\n  - {token: " << kProberToken << ", prober_id: p-ber, region: ber}\n"
        << "query: [" << kQueryToken << "]\n";
    std::ofstream(dir_ + "/sonde.yaml") << "regions: [fra, ams, ber]\n"
                                        << "checks:\n  - name: local\n    interval: 1s\n"
                                        << "    tcp: {host: 127.0.0.1, port: 9}\n";
    port_ = FreePort();
    collector_ =
        new Process({BinPath("sonde-collector"), "--listen", absl::StrCat("127.0.0.1:", port_),
                     "--postgres", conninfo_, "--config", dir_ + "/sonde.yaml", "--tls-cert",
                     dir_ + "/certs/collector.pem", "--tls-key", dir_ + "/certs/collector.key",
                     "--tls-client-ca", dir_ + "/certs/ca.pem", "--tokens", dir_ + "/tokens.yaml"},
                    dir_ + "/collector.log");
    ASSERT_TRUE(sonde::testing::WaitForPort(port_, seconds(30))) << collector_->Log();
  }

  static void TearDownTestSuite() {
    delete collector_;
    std::string out;
    RunCommand({"/bin/bash", SourceDir() + "/deploy/local-postgres.sh", "destroy", dir_ + "/pg"},
               &out, seconds(60));
    std::filesystem::remove_all(dir_);
  }

  static std::shared_ptr<grpc::Channel> Channel(const std::string& cert_name) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Read(dir_ + "/certs/ca.pem");
    if (!cert_name.empty()) {
      ssl.pem_cert_chain = Read(dir_ + "/certs/" + cert_name + ".pem");
      ssl.pem_private_key = Read(dir_ + "/certs/" + cert_name + ".key");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_), grpc::SslCredentials(ssl),
                                     args);
  }

  static v1::ResultBatch Batch(const std::string& prober, const std::string& region, uint64_t seq) {
    v1::ResultBatch b;
    b.set_prober_id(prober);
    b.set_region(region);
    b.set_batch_seq(seq);
    v1::ProbeResult* r = b.add_results();
    r->set_check_id("local");
    r->set_service("local");
    r->set_kind("tcp");
    r->set_seq(seq);
    r->set_ok(true);
    r->set_failure_class(v1::FailureClass::OK);
    r->mutable_start_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    return b;
  }

  // Sends one batch on a fresh stream; returns the stream's final status
  // (OK plus `acked` when the batch was acknowledged).
  static grpc::Status Send(std::shared_ptr<grpc::Channel> channel, const v1::ResultBatch& batch,
                           const std::string& token, bool* acked) {
    auto stub = v1::Ingest::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
    if (!token.empty()) {
      ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    auto stream = stub->Report(&ctx);
    *acked = false;
    if (stream->Write(batch)) {
      v1::Ack ack;
      *acked = stream->Read(&ack) && ack.batch_seq() == batch.batch_seq();
    }
    stream->WritesDone();
    if (*acked) {
      ctx.TryCancel();
    }
    grpc::Status st = stream->Finish();
    return *acked ? grpc::Status::OK : st;
  }

  static int64_t Rows(const std::string& where) {
    PGconn* c = PQconnectdb(conninfo_.c_str());
    PGresult* r = PQexec(c, absl::StrCat("SELECT count(*) FROM results WHERE ", where).c_str());
    int64_t n = PQresultStatus(r) == PGRES_TUPLES_OK ? std::atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
  }

  static std::string dir_;
  static int pg_port_, port_;
  static std::string conninfo_;
  static Process* collector_;
};

std::string AuthTest::dir_;
int AuthTest::pg_port_ = 0;
int AuthTest::port_ = 0;
std::string AuthTest::conninfo_;
Process* AuthTest::collector_ = nullptr;

TEST_F(AuthTest, CertificateBindsTheRegion) {
  bool acked = false;
  grpc::Status st = Send(Channel("p-ams"), Batch("p-ams", "ams", 1), "", &acked);
  EXPECT_TRUE(acked) << st.error_message();
  st = Send(Channel("p-ams"), Batch("p-ams", "fra", 2), "", &acked);
  EXPECT_FALSE(acked);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("region \"ams\""), std::string::npos) << st.error_message();
  st = Send(Channel("p-ams"), Batch("p-fra", "ams", 3), "", &acked);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_EQ(Rows("region = 'fra'"), 0);
  EXPECT_EQ(Rows("prober_id = 'p-ams' AND region = 'ams'"), 1);
}

TEST_F(AuthTest, NoCredentialsIsRefused) {
  bool acked = false;
  grpc::Status st = Send(Channel(""), Batch("p-x", "ber", 10), "", &acked);
  EXPECT_FALSE(acked);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  st = Send(Channel(""), Batch("p-ber", "ber", 11), "not-a-valid-token-at-all", &acked);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  // Plaintext to the TLS port gets nowhere.
  auto plain =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials());
  st = Send(plain, Batch("p-ber", "ber", 12), kProberToken, &acked);
  EXPECT_FALSE(acked);
  EXPECT_EQ(Rows("region = 'ber'"), 0);
}

TEST_F(AuthTest, TokenBindsTheRegionToo) {
  bool acked = false;
  grpc::Status st = Send(Channel(""), Batch("p-ber", "ber", 20), kProberToken, &acked);
  EXPECT_TRUE(acked) << st.error_message();
  st = Send(Channel(""), Batch("p-ber", "fra", 21), kProberToken, &acked);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
}

TEST_F(AuthTest, QueriesNeedAQueryToken) {
  auto stub = v1::Query::NewStub(Channel(""));
  v1::AvailabilityRequest req;
  v1::AvailabilityReply reply;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub->Availability(&ctx, req, &reply).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kProberToken));  // not a query token
    EXPECT_EQ(stub->Availability(&ctx, req, &reply).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kQueryToken));
  EXPECT_TRUE(stub->Availability(&ctx, req, &reply).ok());
}

TEST_F(AuthTest, RealProberWithItsCertificate) {
  Process prober({BinPath("sonde-prober"), "--collector", absl::StrCat("localhost:", port_),
                  "--tls-ca", dir_ + "/certs/ca.pem", "--tls-cert", dir_ + "/certs/p-fra.pem",
                  "--tls-key", dir_ + "/certs/p-fra.key", "--source-address", "127.0.0.2"},
                 dir_ + "/prober.log");
  int64_t rows = 0;
  for (int i = 0; i < 100 && rows == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rows = Rows("prober_id = 'p-fra' AND region = 'fra' AND check_id = 'local'");
  }
  EXPECT_GT(rows, 0) << prober.Log() << collector_->Log();
  prober.Signal(SIGTERM);
  EXPECT_EQ(prober.Wait(seconds(5)), 0);
  // Its certificate's identity, not a flag, named it; a mismatching flag is refused.
  std::string out;
  EXPECT_EQ(RunCommand({BinPath("sonde-prober"), "--collector", absl::StrCat("localhost:", port_),
                        "--region", "ams", "--tls-ca", dir_ + "/certs/ca.pem", "--tls-cert",
                        dir_ + "/certs/p-fra.pem", "--tls-key", dir_ + "/certs/p-fra.key"},
                       &out, seconds(10)),
            2);
  EXPECT_NE(out.find("region \"fra\""), std::string::npos) << out;
}

TEST(AuthFlagsTest, OpenCollectorOnlyOnLoopbackOrWithInsecure) {
  std::string out;
  EXPECT_EQ(RunCommand({BinPath("sonde-collector"), "--listen", "0.0.0.0:0", "--postgres",
                        "host=127.0.0.1 port=1 user=x dbname=x"},
                       &out, seconds(10)),
            2);
  EXPECT_NE(out.find("--insecure"), std::string::npos) << out;
  EXPECT_EQ(
      RunCommand({BinPath("sonde-prober"), "--region", "fra", "--collector", "192.0.2.1:7600"},
                 &out, seconds(10)),
      2);
  EXPECT_NE(out.find("refusing plaintext"), std::string::npos) << out;
}

}  // namespace
}  // namespace sonde
