// `sonde-prober --config FILE --once` as a process against in-process
// sonde-faultd servers on loopback: one JSON line per result, and each probe
// type carries what an SRE needs (acceptance 2 of issue 3): HTTP status and
// phase timings; TLS version, leaf not-after and days left; the TCP banner;
// DNS rcode, answers and TTLs per resolver. Names resolve only through
// faultd's DNS listener (`resolvers:`).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "sonde/v1/result.pb.h"
#include "tests/faultd/fault_server.h"
#include "tests/testing/process.h"

namespace sonde {
namespace {

using FC = v1::FailureClass;
using sonde::testing::BinPath;
using sonde::testing::RunCommand;

class ProberOnceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sonde-once.XXXXXX";
    dir_ = mkdtemp(tmpl);
    faultd::FaultServerOptions o;
    o.http_listen = o.https_listen = o.tls_listen = o.tcp_listen = o.dns_listen = "127.0.0.1:0";
    o.cert_names = {"app.example.test"};
    o.rules_json = R"([
      {"listener": "dns", "name": "app.example.test",
       "records": [{"type": "A", "data": "127.0.0.1", "ttl": 42},
                   {"type": "MX", "data": "10 mail.example.test", "ttl": 3600}]},
      {"listener": "http", "path_prefix": "/broken", "status": 503},
      {"listener": "tcp", "banner": "220 mail.example.test ESMTP Postfix\r\n"}])";
    server_ = std::make_unique<faultd::FaultServer>(std::move(o));
    ASSERT_TRUE(server_->Start().ok());
    // A second resolver that knows the name differently.
    faultd::FaultServerOptions o2;
    o2.dns_listen = "127.0.0.1:0";
    o2.rules_json = R"([{"listener": "dns", "name": "app.example.test",
                         "records": [{"type": "A", "data": "127.0.0.9", "ttl": 7}]}])";
    second_dns_ = std::make_unique<faultd::FaultServer>(std::move(o2));
    ASSERT_TRUE(second_dns_->Start().ok());
    ca_file_ = dir_ + "/ca.pem";
    std::ofstream(ca_file_) << server_->ca_pem();
  }
  void TearDown() override {
    server_.reset();
    second_dns_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Dns() const { return absl::StrCat("127.0.0.1:", server_->ports().dns); }
  std::string Dns2() const { return absl::StrCat("127.0.0.1:", second_dns_->ports().dns); }

  // Runs the prober on `checks_yaml`; returns the exit status and the results.
  int RunOnce(const std::string& checks_yaml, std::vector<v1::ProbeResult>* results,
              std::string* output) {
    std::string path = dir_ + "/sonde.yaml";
    std::ofstream(path) << "checks:\n" << checks_yaml;
    int rc = RunCommand({BinPath("sonde-prober"), "--config", path, "--once"}, output,
                        std::chrono::seconds(30));
    for (absl::string_view line : absl::StrSplit(*output, '\n', absl::SkipWhitespace())) {
      if (!absl::StartsWith(line, "{")) continue;  // warnings on stderr
      v1::ProbeResult r;
      auto st = google::protobuf::util::JsonStringToMessage(std::string(line), &r);
      EXPECT_TRUE(st.ok()) << st << ": " << line;
      results->push_back(std::move(r));
    }
    return rc;
  }

  std::string dir_;
  std::string ca_file_;
  std::unique_ptr<faultd::FaultServer> server_;
  std::unique_ptr<faultd::FaultServer> second_dns_;
};

TEST_F(ProberOnceTest, EveryTypePrintsWhatItSaw) {
  const faultd::ListenerPorts& p = server_->ports();
  std::string yaml = absl::StrCat(
      "  - name: web\n"
      "    timeout: 3s\n"
      "    http: {url: 'http://app.example.test:",
      p.http, "/', resolvers: ['", Dns(), "'],",
      " expect_body: '^ok'}\n"
      "  - name: web-tls\n"
      "    timeout: 3s\n"
      "    http: {url: 'https://app.example.test:",
      p.https, "/', resolvers: ['", Dns(), "'],", " ca_file: '", ca_file_,
      "'}\n"
      "  - name: cert\n"
      "    timeout: 3s\n"
      "    tls: {host: app.example.test, port: ",
      p.tls, ", resolvers: ['", Dns(), "'],", " ca_file: '", ca_file_,
      "', min_days_valid: 14}\n"
      "  - name: smtp\n"
      "    timeout: 3s\n"
      "    tcp: {host: 127.0.0.1, port: ",
      p.tcp,
      ", expect_banner: '^220 '}\n"
      "  - name: zone\n"
      "    timeout: 3s\n"
      "    dns: {name: app.example.test, type: A, resolvers: ['",
      Dns(), "', '", Dns2(), "']}\n");
  std::vector<v1::ProbeResult> results;
  std::string output;
  int rc = RunOnce(yaml, &results, &output);
  EXPECT_EQ(rc, 0) << output;
  ASSERT_EQ(results.size(), 5u) << output;
  std::map<std::string, v1::ProbeResult> by;
  for (size_t i = 0; i < results.size(); ++i) {
    const v1::ProbeResult& r = results[i];
    EXPECT_EQ(r.seq(), i + 1);
    EXPECT_TRUE(r.ok()) << r.check_id() << ": " << r.detail();
    EXPECT_EQ(r.failure_class(), FC::OK) << r.check_id() << ": " << r.detail();
    EXPECT_GT(r.start_time().seconds(), 0);
    EXPECT_GT(r.total_us(), 0u) << r.check_id();
    by[r.check_id()] = r;
  }
  // Config order.
  EXPECT_EQ(results[0].check_id(), "web");
  EXPECT_EQ(results[4].check_id(), "zone");

  const v1::ProbeResult& web = by["web"];
  EXPECT_EQ(web.kind(), "http");
  EXPECT_EQ(web.http_status(), 200);
  EXPECT_GT(web.dns_us(), 0u);
  EXPECT_GT(web.connect_us(), 0u);
  EXPECT_GT(web.first_byte_us(), 0u);
  EXPECT_GE(web.total_us(), web.connect_us());
  EXPECT_EQ(web.resolved_address(), "127.0.0.1");
  EXPECT_EQ(web.dns_rcode(), "NOERROR");

  const v1::ProbeResult& web_tls = by["web-tls"];
  EXPECT_EQ(web_tls.http_status(), 200);
  EXPECT_GT(web_tls.connect_us(), 0u);
  EXPECT_GT(web_tls.tls_us(), 0u);

  const v1::ProbeResult& cert = by["cert"];
  EXPECT_EQ(cert.kind(), "tls");
  EXPECT_EQ(cert.tls_version(), "TLS1.3");
  EXPECT_FALSE(cert.tls_cipher().empty());
  EXPECT_EQ(cert.cert_days_left(), 89);
  absl::Time not_after;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, cert.cert_not_after(), &not_after, &err))
      << cert.cert_not_after();
  EXPECT_LT(absl::AbsDuration(not_after - (absl::Now() + absl::Hours(24 * 90))), absl::Minutes(5));
  EXPECT_FALSE(cert.chain_not_after().empty());
  EXPECT_FALSE(cert.cert_subject().empty());

  const v1::ProbeResult& smtp = by["smtp"];
  EXPECT_EQ(smtp.kind(), "tcp");
  EXPECT_EQ(smtp.banner(), "220 mail.example.test ESMTP Postfix");
  EXPECT_GT(smtp.connect_us(), 0u);

  const v1::ProbeResult& zone = by["zone"];
  EXPECT_EQ(zone.kind(), "dns");
  EXPECT_EQ(zone.dns_rcode(), "NOERROR");
  ASSERT_EQ(zone.dns_size(), 2);
  EXPECT_EQ(zone.dns(0).resolver(), Dns());
  EXPECT_EQ(zone.dns(0).rcode(), "NOERROR");
  ASSERT_EQ(zone.dns(0).answers_size(), 1);
  EXPECT_EQ(zone.dns(0).answers(0).data(), "127.0.0.1");
  EXPECT_EQ(zone.dns(0).answers(0).ttl(), 42u);
  EXPECT_EQ(zone.dns(0).answers(0).type(), "A");
  EXPECT_GT(zone.dns(0).rtt_us(), 0u);
  EXPECT_EQ(zone.dns(1).resolver(), Dns2());
  ASSERT_EQ(zone.dns(1).answers_size(), 1);
  EXPECT_EQ(zone.dns(1).answers(0).data(), "127.0.0.9");
  EXPECT_EQ(zone.dns(1).answers(0).ttl(), 7u);
}

TEST_F(ProberOnceTest, FailuresAreNamedAndExitStatusIsOne) {
  const faultd::ListenerPorts& p = server_->ports();
  std::string yaml = absl::StrCat(
      "  - name: broken\n"
      "    timeout: 3s\n"
      "    http: {url: 'http://127.0.0.1:",
      p.http,
      "/broken'}\n"
      "  - name: wrong-banner\n"
      "    timeout: 1s\n"
      "    tcp: {host: 127.0.0.1, port: ",
      p.tcp,
      ", expect_banner: '^SSH-'}\n"
      "  - name: mx\n"
      "    timeout: 3s\n"
      "    dns: {name: app.example.test, type: MX, resolvers: ['",
      Dns(),
      "'],"
      " expect_answers: ['20 other.example.test']}\n");
  std::vector<v1::ProbeResult> results;
  std::string output;
  EXPECT_EQ(RunOnce(yaml, &results, &output), 1) << output;
  ASSERT_EQ(results.size(), 3u) << output;
  EXPECT_EQ(results[0].failure_class(), FC::HTTP_STATUS);
  EXPECT_EQ(results[0].http_status(), 503);
  EXPECT_FALSE(results[0].ok());
  EXPECT_EQ(results[1].failure_class(), FC::BANNER_MISMATCH) << results[1].detail();
  EXPECT_EQ(results[1].banner(), "220 mail.example.test ESMTP Postfix");
  EXPECT_EQ(results[2].failure_class(), FC::DNS_UNEXPECTED_ANSWER);
  ASSERT_EQ(results[2].dns_size(), 1);
  ASSERT_EQ(results[2].dns(0).answers_size(), 1);
  EXPECT_EQ(results[2].dns(0).answers(0).data(), "10 mail.example.test.");
  EXPECT_EQ(results[2].dns(0).answers(0).ttl(), 3600u);
  // The JSON shows the class by name, as users see it.
  EXPECT_TRUE(absl::StrContains(output, "\"failure_class\":\"HTTP_STATUS\"")) << output;
}

}  // namespace
}  // namespace sonde
