// Secrets and the probe policy through the binaries (issue 10): `--help`
// never prints SONDE_TOKEN, and `sonde-prober --once` refuses a redirect to
// an address the probe policy denies (PROBER_POLICY) while the same check
// without the policy follows it. Targets: in-process sonde-faultd servers
// on 127.0.0.1 and 127.0.0.2.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "sonde/v1/result.pb.h"
#include "tests/faultd/fault_server.h"
#include "tests/testing/process.h"

namespace sonde {
namespace {

using FC = v1::FailureClass;
using testing::BinPath;
using testing::RunCommand;

constexpr char kToken[] = "s3cr3t-token-0f9a7c";

TEST(HostileSecretsCliTest, HelpNeverPrintsTheTokenFromTheEnvironment) {
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{BinPath("sondectl"), "incidents", "--help"},
                                             {BinPath("sondectl"), "ack", "--help"},
                                             {BinPath("sondectl"), "report", "--help"},
                                             {BinPath("sonde-prober"), "--help"},
                                             {BinPath("sonde-collector"), "--help"}}) {
    std::vector<std::string> argv = {"/usr/bin/env", absl::StrCat("SONDE_TOKEN=", kToken)};
    argv.insert(argv.end(), command.begin(), command.end());
    std::string output;
    const int rc = RunCommand(argv, &output);
    EXPECT_EQ(rc, 0) << command[0] << " " << command[1] << "\n" << output;
    EXPECT_FALSE(absl::StrContains(output, kToken)) << output;
    EXPECT_TRUE(absl::StrContains(output, "--")) << output;  // it did print the help
  }
}

class ProbePolicyOnceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sonde-policy.XXXXXX";
    dir_ = mkdtemp(tmpl);
    // The inside service on 127.0.0.2 (think 169.254.169.254).
    faultd::FaultServerOptions inside;
    inside.http_listen = inside.tcp_listen = "127.0.0.2:0";
    inside.rules_json = R"([{"listener": "http", "status": 200, "body": "instance secrets"},
                            {"listener": "tcp", "banner": "inside\r\n"}])";
    inside_ = std::make_unique<faultd::FaultServer>(std::move(inside));
    ASSERT_TRUE(inside_->Start().ok());
    // The probed target on 127.0.0.1 redirects there.
    faultd::FaultServerOptions outside;
    outside.http_listen = "127.0.0.1:0";
    outside.rules_json = absl::StrCat(R"([{"listener": "http", "path_prefix": "/hop",
        "redirect": "http://127.0.0.2:)",
                                      inside_->ports().http, R"(/latest/meta-data"}])");
    outside_ = std::make_unique<faultd::FaultServer>(std::move(outside));
    ASSERT_TRUE(outside_->Start().ok());
  }
  void TearDown() override {
    outside_.reset();
    inside_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Runs `sonde-prober --once` on the two checks below under `policy_yaml`;
  // returns the exit status and fills the results by check name.
  int RunOnce(const std::string& policy_yaml, std::map<std::string, v1::ProbeResult>* by_name) {
    const std::string path = dir_ + "/sonde.yaml";
    std::ofstream(path)
        << policy_yaml << "checks:\n"
        << "  - name: hop\n    timeout: 3s\n    http: {url: 'http://127.0.0.1:"
        << outside_->ports().http << "/hop', follow_redirects: true}\n"
        << "  - name: inside-tcp\n    timeout: 3s\n    tcp: {host: 127.0.0.2, port: "
        << inside_->ports().tcp << "}\n";
    std::string output;
    const int rc = RunCommand({BinPath("sonde-prober"), "--config", path, "--once"}, &output);
    for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipWhitespace())) {
      if (!absl::StartsWith(line, "{")) {
        continue;
      }
      v1::ProbeResult r;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &r).ok()) << line;
      (*by_name)[r.check_id()] = r;
    }
    EXPECT_EQ(by_name->size(), 2u) << output;
    return rc;
  }

  std::string dir_;
  std::unique_ptr<faultd::FaultServer> inside_;
  std::unique_ptr<faultd::FaultServer> outside_;
};

TEST_F(ProbePolicyOnceTest, WithoutAPolicyTheRedirectIsFollowed) {
  std::map<std::string, v1::ProbeResult> r;
  EXPECT_EQ(RunOnce("", &r), 0);
  EXPECT_EQ(r["hop"].failure_class(), FC::OK) << r["hop"].detail();
  EXPECT_EQ(r["hop"].resolved_address(), "127.0.0.2");
  EXPECT_EQ(r["inside-tcp"].failure_class(), FC::OK) << r["inside-tcp"].detail();
}

TEST_F(ProbePolicyOnceTest, DeniedRedirectHopIsProberPolicy) {
  std::map<std::string, v1::ProbeResult> r;
  EXPECT_EQ(RunOnce("probe_policy: {deny_networks: [127.0.0.2/32, 169.254.0.0/16]}\n", &r), 1);
  const v1::ProbeResult& hop = r["hop"];
  EXPECT_EQ(hop.failure_class(), FC::PROBER_POLICY) << hop.detail();
  EXPECT_FALSE(hop.ok());
  EXPECT_TRUE(absl::StrContains(hop.detail(), "127.0.0.2")) << hop.detail();
  EXPECT_TRUE(absl::StrContains(hop.detail(), "redirect 1")) << hop.detail();
  const v1::ProbeResult& tcp = r["inside-tcp"];
  EXPECT_EQ(tcp.failure_class(), FC::PROBER_POLICY) << tcp.detail();
  EXPECT_EQ(tcp.connect_us(), 0u);  // never connected
}

TEST_F(ProbePolicyOnceTest, AllowListKeepsProbesOnTheirNetworks) {
  std::map<std::string, v1::ProbeResult> r;
  EXPECT_EQ(RunOnce("probe_policy: {allow_networks: [127.0.0.1/32]}\n", &r), 1);
  EXPECT_EQ(r["hop"].failure_class(), FC::PROBER_POLICY) << r["hop"].detail();
  EXPECT_TRUE(absl::StrContains(r["inside-tcp"].detail(), "outside allow_networks"))
      << r["inside-tcp"].detail();
}

}  // namespace
}  // namespace sonde
