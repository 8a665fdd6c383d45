// `sonde-prober --config FILE --once` as a process against in-process
// sonde-faultd servers on loopback: one JSON line per result, and each probe
// type carries what an SRE needs (acceptance 2 of issue 3): HTTP status and
// phase timings; TLS version, leaf not-after and days left; the TCP banner;
// DNS rcode, answers and TTLs per resolver; ICMP echo counts and RTTs
// against 127.0.0.1; the gRPC health answer as faultd switches it. Names
// resolve only through faultd's DNS listener (`resolvers:`).
//
// ICMP failures need echo requests that go unanswered, which loopback never
// does: IcmpClassesInsideANetworkNamespace creates a network namespace, drops
// or rejects echo requests to some of its loopback addresses with nft (or
// iptables) there and runs the prober inside it with `ip netns exec`. It
// needs root and `ip netns` (skipped otherwise) and nft or iptables
// (deploy/install-deps.sh installs nftables); the namespace is deleted after.
#include <gtest/gtest.h>
#include <unistd.h>

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
    o.http_listen = o.https_listen = o.tls_listen = o.tcp_listen = o.dns_listen = o.grpc_listen =
        "127.0.0.1:0";
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
  // `prefix` runs the prober under another command (`ip netns exec NS`);
  // `flags` follow the prober's own.
  int RunOnce(const std::string& checks_yaml, std::vector<v1::ProbeResult>* results,
              std::string* output, std::vector<std::string> prefix = {},
              const std::vector<std::string>& flags = {}) {
    std::string path = dir_ + "/sonde.yaml";
    std::ofstream(path) << "checks:\n" << checks_yaml;
    std::vector<std::string> argv = std::move(prefix);
    argv.insert(argv.end(), {BinPath("sonde-prober"), "--config", path, "--once"});
    argv.insert(argv.end(), flags.begin(), flags.end());
    int rc = RunCommand(argv, output, std::chrono::seconds(30));
    for (absl::string_view line : absl::StrSplit(*output, '\n', absl::SkipWhitespace())) {
      if (!absl::StartsWith(line, "{")) {
        continue;  // warnings on stderr
      }
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

// Every result carries the prober's id and region as they are (the
// prober does not copy or check them per result): a value that is not
// printable text is a usage error at start, not results a collector
// cannot read.
TEST_F(ProberOnceTest, ProberIdAndRegionMustBePrintableText) {
  const std::string yaml = absl::StrCat(
      "  - name: port\n    tcp: {host: 127.0.0.1, port: ", server_->ports().tcp, "}\n");
  const std::vector<std::vector<std::string>> bad = {
      {"--prober-id", "a\nb"}, {"--region", "\xff"}, {"--prober-id", std::string(129, 'p')}};
  for (const std::vector<std::string>& flags : bad) {
    std::vector<v1::ProbeResult> results;
    std::string output;
    EXPECT_EQ(RunOnce(yaml, &results, &output, {}, flags), 2) << output;
    EXPECT_TRUE(results.empty()) << output;
  }
  const std::string id =
      "pr\xc3\xbc"
      "fer-1";
  std::vector<v1::ProbeResult> results;
  std::string output;
  ASSERT_EQ(RunOnce(yaml, &results, &output, {}, {"--prober-id", id, "--region", "fra"}), 0)
      << output;
  ASSERT_EQ(results.size(), 1u) << output;
  EXPECT_EQ(results[0].prober_id(), id);
  EXPECT_EQ(results[0].region(), "fra");
  EXPECT_EQ(results[0].check_id(), "port");
  EXPECT_EQ(results[0].kind(), "tcp");
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

// By check name; every name once.
std::map<std::string, v1::ProbeResult> ByName(const std::vector<v1::ProbeResult>& results) {
  std::map<std::string, v1::ProbeResult> by;
  for (const v1::ProbeResult& r : results) {
    EXPECT_TRUE(by.emplace(r.check_id(), r).second) << r.check_id();
  }
  return by;
}

void ExpectEchoesAnswered(const v1::ProbeResult& r, uint32_t count) {
  EXPECT_EQ(FC::Code_Name(r.failure_class()), "OK") << r.detail();
  EXPECT_EQ(r.kind(), "icmp");
  EXPECT_EQ(r.icmp_sent(), count);
  EXPECT_EQ(r.icmp_received(), count);
  EXPECT_EQ(r.icmp_loss(), 0.0);
  EXPECT_GT(r.rtt_min_us(), 0u);
  EXPECT_LE(r.rtt_min_us(), r.rtt_avg_us());
  EXPECT_LE(r.rtt_avg_us(), r.rtt_max_us());
}

TEST_F(ProberOnceTest, IcmpAgainstTheLoopback) {
  std::string yaml =
      "  - name: ping\n"
      "    timeout: 2s\n"
      "    icmp: {host: 127.0.0.1, count: 3, interval_between: 50ms}\n";
  std::vector<v1::ProbeResult> results;
  std::string output;
  EXPECT_EQ(RunOnce(yaml, &results, &output), 0) << output;
  ASSERT_EQ(results.size(), 1u) << output;
  ExpectEchoesAnswered(results[0], 3);
  EXPECT_EQ(results[0].resolved_address(), "127.0.0.1");
  EXPECT_EQ(results[0].target(), "127.0.0.1");
  EXPECT_GE(results[0].total_us(), 100000u) << "three echoes 50 ms apart";
}

TEST_F(ProberOnceTest, GrpcHealthSwitchedByFaultd) {
  std::string yaml = absl::StrCat(
      "  - name: health\n"
      "    timeout: 2s\n"
      "    grpc: {target: '127.0.0.1:",
      server_->ports().grpc, "', service: shop.Orders}\n");
  auto run = [&](int want_exit) {
    std::vector<v1::ProbeResult> results;
    std::string output;
    EXPECT_EQ(RunOnce(yaml, &results, &output), want_exit) << output;
    EXPECT_EQ(results.size(), 1u) << output;
    return results.empty() ? v1::ProbeResult() : results[0];
  };
  v1::ProbeResult serving = run(0);
  EXPECT_EQ(serving.kind(), "grpc");
  EXPECT_EQ(FC::Code_Name(serving.failure_class()), "OK") << serving.detail();
  EXPECT_EQ(serving.grpc_serving_status(), "SERVING");

  // faultd switches the service to NOT_SERVING, then back.
  ASSERT_TRUE(server_
                  ->SetRulesJson(R"([{"listener": "grpc", "service": "shop.Orders",
                                       "serving_status": "NOT_SERVING"}])")
                  .ok());
  v1::ProbeResult not_serving = run(1);
  EXPECT_EQ(FC::Code_Name(not_serving.failure_class()), "GRPC_NOT_SERVING") << not_serving.detail();
  EXPECT_EQ(not_serving.grpc_serving_status(), "NOT_SERVING");
  EXPECT_FALSE(not_serving.ok());

  ASSERT_TRUE(server_->SetRulesJson("[]").ok());
  v1::ProbeResult again = run(0);
  EXPECT_EQ(FC::Code_Name(again.failure_class()), "OK") << again.detail();
}

// The path of the `ip` tool (RunCommand does not search PATH), or "".
std::string IpTool() {
  std::vector<std::string> dirs = absl::StrSplit(getenv("PATH") ? getenv("PATH") : "", ':');
  dirs.insert(dirs.end(), {"/usr/sbin", "/sbin", "/usr/bin", "/bin"});
  for (const std::string& dir : dirs) {
    std::string path = absl::StrCat(dir, "/ip");
    if (!dir.empty() && access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  return "";
}

// A network namespace of its own, deleted on destruction. Commands inside
// it run through `ip netns exec`, which finds them on PATH.
class NetworkNamespace {
 public:
  NetworkNamespace(std::string ip, std::string name) : ip_(std::move(ip)), name_(std::move(name)) {}
  ~NetworkNamespace() {
    if (created_) {
      std::string out;
      RunCommand({ip_, "netns", "del", name_}, &out, std::chrono::seconds(10));
    }
  }
  // Creates it with its loopback up; false (with why) when that fails.
  bool Create(std::string* why) {
    if (RunCommand({ip_, "netns", "add", name_}, why, std::chrono::seconds(10)) != 0) {
      return false;
    }
    created_ = true;
    return Exec({"ip", "link", "set", "lo", "up"}, why) == 0;
  }
  // Runs `argv` inside; the exit status.
  int Exec(const std::vector<std::string>& argv, std::string* output) const {
    std::vector<std::string> full = Prefix();
    full.insert(full.end(), argv.begin(), argv.end());
    return RunCommand(full, output, std::chrono::seconds(20));
  }
  std::vector<std::string> Prefix() const { return {ip_, "netns", "exec", name_}; }

 private:
  std::string ip_;
  std::string name_;
  bool created_ = false;
};

// Inside the namespace: 127.0.0.2 drops echo requests (ICMP_TIMEOUT),
// 127.0.0.3 rejects them with host-unreachable (ICMP_UNREACHABLE from the
// reply), 127.0.0.4 drops every second one (ICMP_LOSS), 192.0.2.1 has an
// unreachable route (ICMP_UNREACHABLE from EHOSTUNREACH); 127.0.0.1
// answers. Run with raw sockets (a new namespace's ping_group_range admits
// no group), then with ping sockets once the namespace's sysctl allows them.
TEST_F(ProberOnceTest, IcmpClassesInsideANetworkNamespace) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to create a network namespace";
  }
  std::string ip = IpTool();
  std::string out;
  if (ip.empty() || RunCommand({ip, "netns", "list"}, &out, std::chrono::seconds(10)) != 0) {
    GTEST_SKIP() << "`ip netns` is not available (iproute2): " << out;
  }
  NetworkNamespace ns(ip, absl::StrCat("sonde-icmp-", getpid()));
  std::string why;
  ASSERT_TRUE(ns.Create(&why)) << why;
  const std::string rules = R"(table inet sonde_test {
  chain input {
    type filter hook input priority 0; policy accept;
    ip daddr 127.0.0.2 icmp type echo-request drop
    ip daddr 127.0.0.3 icmp type echo-request reject with icmp type host-unreachable
    ip daddr 127.0.0.4 icmp type echo-request numgen inc mod 2 == 0 drop
  }
})";
  std::string rules_file = dir_ + "/drop.nft";
  std::ofstream(rules_file) << rules;
  if (ns.Exec({"nft", "-f", rules_file}, &out) != 0) {
    // No nft: the same with iptables.
    std::vector<std::vector<std::string>> iptables = {
        {"iptables", "-A", "INPUT", "-d", "127.0.0.2", "-p", "icmp", "--icmp-type", "echo-request",
         "-j", "DROP"},
        {"iptables", "-A", "INPUT", "-d", "127.0.0.3", "-p", "icmp", "--icmp-type", "echo-request",
         "-j", "REJECT", "--reject-with", "icmp-host-unreachable"},
        {"iptables", "-A", "INPUT", "-d", "127.0.0.4", "-p", "icmp", "--icmp-type", "echo-request",
         "-m", "statistic", "--mode", "nth", "--every", "2", "-j", "DROP"}};
    for (const auto& argv : iptables) {
      ASSERT_EQ(ns.Exec(argv, &out), 0)
          << "neither nft nor iptables works here (deploy/install-deps.sh installs nftables): "
          << out;
    }
  }
  ASSERT_EQ(ns.Exec({"ip", "route", "add", "unreachable", "192.0.2.1"}, &out), 0) << out;

  std::string yaml =
      "  - name: alive\n"
      "    timeout: 1s\n"
      "    icmp: {host: 127.0.0.1, count: 2, interval_between: 20ms}\n"
      "  - name: dropped\n"
      "    timeout: 1s\n"
      "    icmp: {host: 127.0.0.2, count: 2, interval_between: 20ms}\n"
      "  - name: rejected\n"
      "    timeout: 1s\n"
      "    icmp: {host: 127.0.0.3, count: 2, interval_between: 20ms}\n"
      "  - name: lossy\n"
      "    timeout: 1s\n"
      "    icmp: {host: 127.0.0.4, count: 4, interval_between: 20ms}\n"
      "  - name: no-route\n"
      "    timeout: 1s\n"
      "    icmp: {host: 192.0.2.1, count: 2, interval_between: 20ms}\n";
  for (const char* sockets : {"raw", "ping"}) {
    SCOPED_TRACE(sockets);
    if (std::string(sockets) == "ping") {
      ASSERT_EQ(ns.Exec({"sysctl", "-w", "net.ipv4.ping_group_range=0 2147483647"}, &out), 0)
          << out;
    }
    std::vector<v1::ProbeResult> results;
    std::string output;
    EXPECT_EQ(RunOnce(yaml, &results, &output, ns.Prefix()), 1) << output;
    std::map<std::string, v1::ProbeResult> by = ByName(results);
    ASSERT_EQ(by.size(), 5u) << output;
    ExpectEchoesAnswered(by["alive"], 2);

    const v1::ProbeResult& dropped = by["dropped"];
    EXPECT_EQ(FC::Code_Name(dropped.failure_class()), "ICMP_TIMEOUT") << dropped.detail();
    EXPECT_EQ(dropped.icmp_sent(), 2u);
    EXPECT_EQ(dropped.icmp_received(), 0u);
    EXPECT_EQ(dropped.icmp_loss(), 1.0);
    EXPECT_EQ(dropped.rtt_avg_us(), 0u);
    EXPECT_GE(dropped.total_us(), 900000u) << "waits for replies until the timeout";

    const v1::ProbeResult& rejected = by["rejected"];
    EXPECT_EQ(FC::Code_Name(rejected.failure_class()), "ICMP_UNREACHABLE") << rejected.detail();
    EXPECT_EQ(rejected.icmp_received(), 0u);
    EXPECT_TRUE(absl::StrContains(rejected.detail(), "host unreachable")) << rejected.detail();
    EXPECT_LT(rejected.total_us(), 900000u) << "an answered run ends early";

    const v1::ProbeResult& lossy = by["lossy"];
    EXPECT_EQ(FC::Code_Name(lossy.failure_class()), "ICMP_LOSS") << lossy.detail();
    EXPECT_EQ(lossy.icmp_sent(), 4u);
    EXPECT_EQ(lossy.icmp_received(), 2u);
    EXPECT_EQ(lossy.icmp_loss(), 0.5);
    EXPECT_GT(lossy.rtt_min_us(), 0u);

    const v1::ProbeResult& no_route = by["no-route"];
    EXPECT_EQ(FC::Code_Name(no_route.failure_class()), "ICMP_UNREACHABLE") << no_route.detail();
    EXPECT_TRUE(absl::StrContains(no_route.detail(), "No route to host")) << no_route.detail();
  }
}

}  // namespace
}  // namespace sonde
