// Every probe type through real loopback sockets against an in-process
// sonde-faultd (tests/faultd), one table row per failure class a probe can
// produce. Each row runs the way the prober runs a check: Scheduler::RunOnce
// with MakeProbe on one EventLoop, so deadlines, aborts and `ok` are the
// production ones.
//
// Network: every socket goes to 127.0.0.0/8. Names are resolved only through
// faultd's DNS listener (`resolvers:`), never the system resolver. The
// TCP_UNREACHABLE rows connect to 255.255.255.255, which the kernel refuses
// with ENETUNREACH before any packet is sent (TCP never connects to a
// broadcast address).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/config.h"
#include "common/event_loop.h"
#include "common/logging.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "tests/faultd/fault_server.h"
#include "tests/unit/prober/probes/prober_under_test.h"

namespace sonde::prober {
namespace {

using faultd::FaultServer;
using faultd::ListenerKind;
using FC = v1::FailureClass;

// Appended to every row's rules (after them, so a row can override a name):
// the names checks use resolve through faultd.
constexpr char kZone[] = R"(
  {"id": "zone-app", "listener": "dns", "name": "app.example.test",
   "records": [{"type": "A", "data": "127.0.0.1", "ttl": 30}]},
  {"id": "zone-tls", "listener": "dns", "name": "tls.example.test",
   "records": [{"type": "A", "data": "127.0.0.1", "ttl": 30}]},
  {"id": "zone-tcp", "listener": "dns", "name": "tcp.example.test",
   "records": [{"type": "A", "data": "127.0.0.1", "ttl": 30}]})";

// A port nothing listens on (bound, read, closed).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// One table row: faultd rules, a check and what the result must say.
struct Row {
  std::string name;
  std::string rules;  // rules before kZone (a JSON list body, may be "")
  std::string spec;   // the check's kind line, e.g. "http: {url: '${HTTP}/'}"
  FC::Code want;
  std::function<void(const v1::ProbeResult&)> also = nullptr;
  std::string timeout = "3s";
  std::string source_address = "";
};

class ProbesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    spdlog::set_level(spdlog::level::warn);  // faultd logs every rule change
    faultd::FaultServerOptions o;
    o.http_listen = o.https_listen = o.tls_listen = o.tcp_listen = o.dns_listen =
        o.blackhole_listen = "127.0.0.1:0";
    o.cert_names = {"app.example.test", "tls.example.test"};
    server_ = new FaultServer(std::move(o));
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
    // Per process: ctest runs the tests of this binary in parallel, each
    // with its own faultd and so its own CA.
    ca_file_ =
        new std::string(absl::StrCat(::testing::TempDir(), "/probes_test_ca.", getpid(), ".pem"));
    std::ofstream(*ca_file_) << server_->ca_pem();
    closed_port_ = ClosedPort();
    // faultd checks at start that connects to its blackhole port hang (they
    // do on Linux with the default tcp_abort_on_overflow = 0).
    blackhole_hangs_ =
        server_->stats().Listener(ListenerKind::kBlackhole, "queue_full_verified") > 0;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    unlink(ca_file_->c_str());
    delete ca_file_;
  }

  static std::string Expand(const std::string& text) {
    const faultd::ListenerPorts& p = server_->ports();
    return absl::StrReplaceAll(text, {{"${HTTP}", absl::StrCat("http://127.0.0.1:", p.http)},
                                      {"${HTTP_PORT}", absl::StrCat(p.http)},
                                      {"${HTTPS_PORT}", absl::StrCat(p.https)},
                                      {"${TLS_PORT}", absl::StrCat(p.tls)},
                                      {"${TCP_PORT}", absl::StrCat(p.tcp)},
                                      {"${DNS}", absl::StrCat("127.0.0.1:", p.dns)},
                                      {"${BLACKHOLE_PORT}", absl::StrCat(p.blackhole)},
                                      {"${CLOSED_PORT}", absl::StrCat(closed_port_)},
                                      {"${CA}", *ca_file_}});
  }

  static v1::Check MakeCheck(const std::string& spec, const std::string& timeout) {
    std::string yaml = absl::StrCat("checks:\n  - name: probe-under-test\n    interval: 30s\n",
                                    "    timeout: ", timeout, "\n    ", Expand(spec), "\n");
    auto config = common::ParseConfig(yaml, "row.yaml");
    EXPECT_TRUE(config.ok()) << config.status() << "\n" << yaml;
    return config.ok() ? config->checks(0) : v1::Check();
  }

  static void SetRules(const std::string& rules) {
    std::string json = absl::StrCat("[", rules, rules.empty() ? "" : ",", kZone, "]");
    absl::Status s = server_->SetRulesJson(json);
    ASSERT_TRUE(s.ok()) << s << "\n" << json;
  }

  // Runs every row; each must give exactly one result of the row's class.
  static void RunRows(const std::vector<Row>& rows) {
    for (const Row& row : rows) {
      SCOPED_TRACE(row.name);
      if (absl::StrContains(row.spec, "${BLACKHOLE_PORT}") && !blackhole_hangs_) {
        // No way to make a SYN go unanswered on this host's loopback.
        std::cout << "[ SKIPPED  ] row \"" << row.name
                  << "\": connects to faultd's blackhole port do not hang here\n";
        continue;
      }
      SetRules(row.rules);
      ProberUnderTest prober(row.source_address);
      auto start = absl::Now();
      std::vector<v1::ProbeResult> results = prober.Run(MakeCheck(row.spec, row.timeout));
      absl::Duration took = absl::Now() - start;
      ASSERT_EQ(results.size(), 1u);
      const v1::ProbeResult& r = results[0];
      EXPECT_EQ(FC::Code_Name(r.failure_class()), FC::Code_Name(row.want)) << r.detail();
      EXPECT_EQ(r.ok(), row.want == FC::OK);
      EXPECT_EQ(r.check_id(), "probe-under-test");
      EXPECT_FALSE(r.detail().empty());
      EXPECT_GT(r.total_us(), 0u);
      // Every run ends by its deadline (plus the scheduler's abort grace).
      EXPECT_LT(took, common::ToDuration(MakeCheck(row.spec, row.timeout).timeout()) +
                          absl::Milliseconds(500));
      if (row.also) {
        row.also(r);
      }
    }
  }

  static FaultServer* server_;
  static std::string* ca_file_;
  static int closed_port_;
  static bool blackhole_hangs_;
};

FaultServer* ProbesTest::server_ = nullptr;
std::string* ProbesTest::ca_file_ = nullptr;
int ProbesTest::closed_port_ = 0;
bool ProbesTest::blackhole_hangs_ = false;

// A faultd rule for `listener` whose `field` (an HTTP body, a TCP banner) is
// `head`, then kLargeAnswerSpaces spaces, then `tail` (JSON-escaped text).
constexpr size_t kLargeAnswerSpaces = 500 * 1000;
std::string LargeAnswerRule(const std::string& listener, const std::string& field,
                            const std::string& head, const std::string& tail) {
  return absl::StrCat(R"({"listener": ")", listener, R"(", ")", field, R"(": ")", head,
                      std::string(kLargeAnswerSpaces, ' '), tail, R"("})");
}

// faultd's valid leaf: not_before now-1h, not_after now+90d, under its CA.
void ExpectFreshCertificate(const v1::ProbeResult& r) {
  absl::Time not_after, chain_not_after;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, r.cert_not_after(), &not_after, &err))
      << r.cert_not_after();
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, r.chain_not_after(), &chain_not_after, &err))
      << r.chain_not_after();
  EXPECT_LT(absl::AbsDuration(not_after - (absl::Now() + absl::Hours(24 * 90))), absl::Minutes(5));
  EXPECT_LE(chain_not_after, not_after);
  EXPECT_FALSE(r.cert_not_before().empty());
}

// ---------------------------------------------------------------- HTTP ---

TEST_F(ProbesTest, HttpClasses) {
  RunRows({
      {"healthy", "", "http: {url: '${HTTP}/health', expect_body: '^ok'}", FC::OK,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.http_status(), 200);
         EXPECT_GT(r.connect_us(), 0u);
         EXPECT_GT(r.first_byte_us(), 0u);
         EXPECT_GE(r.total_us(), r.connect_us());
         EXPECT_EQ(r.resolved_address(), "127.0.0.1");
         EXPECT_EQ(r.body_bytes(), 3u);
         EXPECT_EQ(r.kind(), "http");
       }},
      {"status", R"({"listener": "http", "status": 503, "body": "down"})",
       "http: {url: '${HTTP}/'}", FC::HTTP_STATUS,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.http_status(), 503);
         EXPECT_TRUE(absl::StrContains(r.detail(), "503")) << r.detail();
       }},
      {"status-accepted-by-range", R"({"listener": "http", "status": 503})",
       "http: {url: '${HTTP}/', expect_status: ['500-599']}", FC::OK},
      {"body", R"({"listener": "http", "body": "maintenance window\n"})",
       "http: {url: '${HTTP}/', expect_body: 'Sign in'}", FC::HTTP_BODY,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.http_status(), 200);
         EXPECT_TRUE(absl::StrContains(r.detail(), "maintenance")) << r.detail();
       }},
      {"header-matches", R"({"listener": "http", "headers": {"X-Version": "2"}})",
       "http: {url: '${HTTP}/', expect_header: {X-Version: '^2$'}}", FC::OK},
      {"header-mismatch", R"({"listener": "http", "headers": {"X-Version": "2"}})",
       "http: {url: '${HTTP}/', expect_header: {X-Version: '^3$'}}", FC::HTTP_HEADER},
      {"header-missing", "", "http: {url: '${HTTP}/', expect_header: {X-Version: '.'}}",
       FC::HTTP_HEADER},
      // A pattern whose search backtracks over a huge run of spaces is a
      // class, not a crash of the prober (RE2 matches without recursion).
      {"huge body, no match", LargeAnswerRule("http", "body", "\\\"status\\\":", ""),
       R"(http: {url: '${HTTP}/', expect_body: '"status":\s*"up"'})", FC::HTTP_BODY,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.body_bytes(), 9u + kLargeAnswerSpaces); }},
      {"huge body, match at the end",
       LargeAnswerRule("http", "body", "\\\"status\\\":", "\\\"up\\\""),
       R"(http: {url: '${HTTP}/', expect_body: '"status":\s*"up"'})", FC::OK},
      {"redirect-refused", R"({"listener": "http", "path_prefix": "/old", "redirect": "/new"})",
       "http: {url: '${HTTP}/old', fail_on_redirect: true}", FC::HTTP_STATUS,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.http_status(), 302); }},
      {"redirect-followed", R"({"listener": "http", "path_prefix": "/old", "redirect": "/new"})",
       "http: {url: '${HTTP}/old', follow_redirects: true}", FC::OK,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.http_status(), 200); }},
      {"headers-late", R"({"listener": "http", "delay_headers_ms": 5000})",
       "http: {url: '${HTTP}/'}", FC::HTTP_TIMEOUT,
       [](const v1::ProbeResult& r) {
         EXPECT_GT(r.connect_us(), 0u);
         EXPECT_EQ(r.http_status(), 0);
       },
       "700ms"},
      {"accepts-never-answers", R"({"listener": "http", "blackhole": true})",
       "http: {url: '${HTTP}/'}", FC::HTTP_TIMEOUT, nullptr, "700ms"},
      {"body-late", R"({"listener": "http", "delay_body_ms": 5000, "body": "late"})",
       "http: {url: '${HTTP}/'}", FC::HTTP_TIMEOUT,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.http_status(), 200);
         EXPECT_GT(r.first_byte_us(), 0u);
       },
       "700ms"},
      {"endless-body", R"({"listener": "http", "endless_body": true, "body": "xxxxxxxxxxxxxxxx"})",
       "http: {url: '${HTTP}/', max_body_bytes: 1000}", FC::HTTP_TIMEOUT,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.http_status(), 200);
         EXPECT_GT(r.body_bytes(), 1000u);  // counted, though only 1000 are kept
       },
       "700ms"},
      {"trickle", R"({"listener": "http", "trickle_bps": 1, "body_bytes": 100})",
       "http: {url: '${HTTP}/'}", FC::HTTP_TIMEOUT,
       [](const v1::ProbeResult& r) { EXPECT_LT(r.body_bytes(), 100u); }, "700ms"},
      {"redirect-loop", R"({"listener": "http", "path_prefix": "/loop", "redirect": "/loop"})",
       "http: {url: '${HTTP}/loop', follow_redirects: true, max_redirects: 3}", FC::HTTP_STATUS},
      {"reset-at-accept", R"({"listener": "http", "reset_on_accept": true})",
       "http: {url: '${HTTP}/'}", FC::TCP_RESET},
      {"closed-without-response", R"({"listener": "http", "close": true})",
       "http: {url: '${HTTP}/'}", FC::HTTP_PROTOCOL},
      {"not-http (ssh banner)", R"({"listener": "tcp", "banner": "SSH-2.0-OpenSSH_9.2\r\n"})",
       "http: {url: 'http://127.0.0.1:${TCP_PORT}/'}", FC::HTTP_PROTOCOL, nullptr, "1s"},
      {"body shorter than Content-Length",
       R"({"listener": "http", "headers": {"Content-Length": "100"}})",
       "http: {url: '${HTTP}/', headers: {Connection: close}}", FC::HTTP_PROTOCOL},
      {"refused", "", "http: {url: 'http://127.0.0.1:${CLOSED_PORT}/'}", FC::TCP_REFUSED},
      {"reset-after-request", R"({"listener": "http", "reset": true})", "http: {url: '${HTTP}/'}",
       FC::TCP_RESET},
      {"connect-times-out", "", "http: {url: 'http://127.0.0.1:${BLACKHOLE_PORT}/'}",
       FC::TCP_TIMEOUT, [](const v1::ProbeResult& r) { EXPECT_EQ(r.connect_us(), 0u); }, "700ms"},
      {"unreachable", "", "http: {url: 'http://255.255.255.255:${HTTP_PORT}/'}",
       FC::TCP_UNREACHABLE},
      {"name-via-resolvers", "",
       "http: {url: 'http://app.example.test:${HTTP_PORT}/', resolvers: ['${DNS}']}", FC::OK,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.dns_rcode(), "NOERROR");
         EXPECT_GT(r.dns_us(), 0u);
         EXPECT_EQ(r.resolved_address(), "127.0.0.1");
       }},
      {"nxdomain", R"({"listener": "dns", "name": "gone.example.test", "rcode": "NXDOMAIN"})",
       "http: {url: 'http://gone.example.test:${HTTP_PORT}/', resolvers: ['${DNS}']}",
       FC::DNS_NXDOMAIN,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.dns_rcode(), "NXDOMAIN");
         EXPECT_EQ(r.http_status(), 0);
       }},
      {"servfail", R"({"listener": "dns", "name": "gone.example.test", "rcode": "SERVFAIL"})",
       "http: {url: 'http://gone.example.test:${HTTP_PORT}/', resolvers: ['${DNS}']}",
       FC::DNS_SERVFAIL},
      {"dns-no-answer", R"({"listener": "dns", "name": "gone.example.test", "drop": true})",
       "http: {url: 'http://gone.example.test:${HTTP_PORT}/', resolvers: ['${DNS}']}",
       FC::DNS_TIMEOUT, nullptr, "700ms"},
      {"per-source: 127.0.0.3 sees 503",
       R"({"listener": "http", "source": "127.0.0.3", "status": 503})", "http: {url: '${HTTP}/'}",
       FC::HTTP_STATUS, nullptr, "3s", "127.0.0.3"},
      {"per-source: 127.0.0.2 sees 200",
       R"({"listener": "http", "source": "127.0.0.3", "status": 503})", "http: {url: '${HTTP}/'}",
       FC::OK, nullptr, "3s", "127.0.0.2"},
  });
}

TEST_F(ProbesTest, HttpsCertificateClasses) {
  const std::string app = "https://app.example.test:${HTTPS_PORT}/";
  auto spec = [&](const std::string& extra) {
    return absl::StrCat("http: {url: '", app, "', resolvers: ['${DNS}']", extra, "}");
  };
  RunRows({
      {"valid", "", spec(", ca_file: '${CA}'"), FC::OK,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.http_status(), 200);
         EXPECT_GT(r.tls_us(), 0u);
         EXPECT_GT(r.connect_us(), 0u);
         // The certificate's dates, as the TLS probe reports them (CERT_EXPIRING reads them).
         EXPECT_EQ(r.cert_days_left(), 89);
         ExpectFreshCertificate(r);
       }},
      {"expiring certificate is reported, not failed",
       R"({"listener": "https", "cert": "expiring"})", spec(", ca_file: '${CA}'"), FC::OK,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.cert_days_left(), 4); }},
      {"plain http has no certificate", "", "http: {url: 'http://127.0.0.1:${HTTP_PORT}/'}", FC::OK,
       [](const v1::ProbeResult& r) {
         EXPECT_TRUE(r.cert_not_after().empty());
         EXPECT_EQ(r.cert_days_left(), 0);
       }},
      {"valid by IP SAN", "", "http: {url: 'https://127.0.0.1:${HTTPS_PORT}/', ca_file: '${CA}'}",
       FC::OK},
      {"expired", R"({"listener": "https", "cert": "expired"})", spec(", ca_file: '${CA}'"),
       FC::TLS_CERT_EXPIRED},
      {"not yet valid", R"({"listener": "https", "cert": "not_yet_valid"})",
       spec(", ca_file: '${CA}'"), FC::TLS_CERT_NOT_YET_VALID},
      {"self-signed", R"({"listener": "https", "cert": "self_signed"})", spec(", ca_file: '${CA}'"),
       FC::TLS_CERT_UNTRUSTED},
      {"CA not trusted (system store only)", "", spec(""), FC::TLS_CERT_UNTRUSTED},
      {"wrong host", R"({"listener": "https", "cert": "wrong_host"})", spec(", ca_file: '${CA}'"),
       FC::TLS_CERT_HOSTNAME},
      {"handshake alert", R"({"listener": "https", "handshake_fail": "alert"})",
       spec(", ca_file: '${CA}'"), FC::TLS_HANDSHAKE},
      {"handshake garbage", R"({"listener": "https", "handshake_fail": "garbage"})",
       spec(", ca_file: '${CA}'"), FC::TLS_HANDSHAKE},
      {"reset at accept", R"({"listener": "https", "reset_on_accept": true})",
       spec(", ca_file: '${CA}'"), FC::TCP_RESET},
      {"status over https", R"({"listener": "https", "status": 500})", spec(", ca_file: '${CA}'"),
       FC::HTTP_STATUS, [](const v1::ProbeResult& r) { EXPECT_EQ(r.http_status(), 500); }},
      {"insecure_skip_verify accepts the expired cert",
       R"({"listener": "https", "cert": "expired"})", spec(", insecure_skip_verify: true"), FC::OK},
  });
}

// One prober, so one pooled curl handle that is never reset, for checks
// with different TLS settings in turn: none inherits the one before's
// (verification off, its CA file, certificate fields, the pinned address).
TEST_F(ProbesTest, HttpsSettingsDoNotCarryOverOnAPooledHandle) {
  ProberUnderTest prober;
  const std::string app = "https://app.example.test:${HTTPS_PORT}/";
  auto run = [&](const std::string& rules, const std::string& spec, FC::Code want) {
    SCOPED_TRACE(spec);
    SetRules(rules);
    std::vector<v1::ProbeResult> r = prober.Run(MakeCheck(spec, "3s"));
    EXPECT_EQ(r.size(), 1u);
    v1::ProbeResult out = r.empty() ? v1::ProbeResult() : r[0];
    EXPECT_EQ(FC::Code_Name(out.failure_class()), FC::Code_Name(want)) << out.detail();
    return out;
  };
  const std::string expired = R"({"listener": "https", "cert": "expired"})";
  auto spec = [&](const std::string& extra) {
    return absl::StrCat("http: {url: '", app, "', resolvers: ['${DNS}']", extra, "}");
  };
  run(expired, spec(", insecure_skip_verify: true"), FC::OK);
  run(expired, spec(", ca_file: '${CA}'"), FC::TLS_CERT_EXPIRED);
  EXPECT_EQ(run("", spec(", ca_file: '${CA}'"), FC::OK).cert_days_left(), 89);
  run("", spec(""), FC::TLS_CERT_UNTRUSTED);
  v1::ProbeResult plain = run("", "http: {url: '${HTTP}/'}", FC::OK);
  EXPECT_TRUE(plain.cert_not_after().empty());
  EXPECT_EQ(plain.resolved_address(), "127.0.0.1");
  run(expired, spec(", insecure_skip_verify: true"), FC::OK);
  v1::ProbeResult by_ip =
      run("", "http: {url: 'https://127.0.0.1:${HTTPS_PORT}/', ca_file: '${CA}'}", FC::OK);
  EXPECT_EQ(by_ip.cert_days_left(), 89);
  run(expired, "http: {url: 'https://127.0.0.1:${HTTPS_PORT}/', ca_file: '${CA}'}",
      FC::TLS_CERT_EXPIRED);
}

TEST_F(ProbesTest, HttpRequestsPerRunMeasureTheFailingShare) {
  SetRules(R"({"id": "login", "listener": "http", "path_prefix": "/login", "fail_share": 0.3})");
  ProberUnderTest prober;
  std::vector<v1::ProbeResult> results =
      prober.Run(MakeCheck("http: {url: '${HTTP}/login', requests_per_run: 10}", "3s"));
  ASSERT_EQ(results.size(), 10u);
  int failing = 0;
  std::vector<bool> seen(10, false);
  for (const v1::ProbeResult& r : results) {
    ASSERT_LT(r.request_index(), 10u);
    seen[r.request_index()] = true;
    if (r.ok()) {
      EXPECT_EQ(r.failure_class(), FC::OK);
      EXPECT_EQ(r.http_status(), 200);
    } else {
      failing++;
      EXPECT_EQ(r.failure_class(), FC::HTTP_STATUS) << r.detail();
      EXPECT_EQ(r.http_status(), 503);
    }
  }
  EXPECT_EQ(failing, 3);  // faultd fails exactly round(0.3 * 10) of 10
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 10);
  // N fresh connections, not one reused connection.
  EXPECT_EQ(server_->stats().Rule(0, "requests"), 10u);
  EXPECT_EQ(server_->stats().Listener(ListenerKind::kHttp, "connections") >= 10u, true);
}

// The velorent case: the name stops resolving, the server still answers at
// the address the name had.
TEST_F(ProbesTest, NxdomainAfterSuccessTriesLastKnownAddress) {
  struct Case {
    std::string name;
    std::string spec;
    std::string evidence;
    int status_answered;  // fallback_http_status while the server is fine
    FC::Code class_down;  // fallback_class when the server fails too
    int status_down;
  };
  for (const Case& c : std::vector<Case>{
           {"http", "http: {url: 'http://app.example.test:${HTTP_PORT}/', resolvers: ['${DNS}']}",
            "server at last known address 127.0.0.1 answers 200", 200, FC::HTTP_STATUS, 503},
           {"tls",
            "tls: {host: app.example.test, port: ${TLS_PORT}, ca_file: '${CA}', "
            "resolvers: ['${DNS}']}",
            "server at last known address 127.0.0.1 answers", 0, FC::TLS_CERT_EXPIRED, 0},
           {"tcp",
            "tcp: {host: app.example.test, port: ${TCP_PORT}, expect_banner: '^SSH-', "
            "resolvers: ['${DNS}']}",
            "server at last known address 127.0.0.1 answers", 0, FC::BANNER_MISMATCH, 0},
       }) {
    SCOPED_TRACE(c.name);
    SetRules("");
    ProberUnderTest prober;
    v1::Check check = MakeCheck(c.spec, "3s");
    std::vector<v1::ProbeResult> first = prober.Run(check);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].failure_class(), FC::OK) << first[0].detail();
    EXPECT_EQ(first[0].fallback_address(), "");
    SetRules(R"({"listener": "dns", "name": "app.example.test", "rcode": "NXDOMAIN"})");
    std::vector<v1::ProbeResult> second = prober.Run(check);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].failure_class(), FC::DNS_NXDOMAIN) << second[0].detail();
    EXPECT_FALSE(second[0].ok());
    EXPECT_EQ(second[0].dns_rcode(), "NXDOMAIN");
    EXPECT_EQ(second[0].resolved_address(), "127.0.0.1");
    EXPECT_TRUE(absl::StrContains(second[0].detail(), "NXDOMAIN")) << second[0].detail();
    EXPECT_TRUE(absl::StrContains(second[0].detail(), c.evidence)) << second[0].detail();
    if (c.name == "http") {
      EXPECT_EQ(second[0].http_status(), 200);
    }
    EXPECT_EQ(second[0].fallback_address(), "127.0.0.1");
    EXPECT_EQ(second[0].fallback_class(), FC::OK);
    EXPECT_EQ(second[0].fallback_http_status(), c.status_answered);
    // The server being down at the last known address is evidence too.
    SetRules(R"({"listener": "dns", "name": "app.example.test", "rcode": "NXDOMAIN"},
                {"listener": "http", "status": 503},
                {"listener": "tls", "cert": "expired"},
                {"listener": "tcp", "banner": "220 hello\r\n"})");
    std::vector<v1::ProbeResult> third = prober.Run(MakeCheck(c.spec, "1s"));
    ASSERT_EQ(third.size(), 1u);
    EXPECT_EQ(third[0].failure_class(), FC::DNS_NXDOMAIN) << third[0].detail();
    EXPECT_TRUE(absl::StrContains(third[0].detail(), "server at last known address 127.0.0.1"))
        << third[0].detail();
    EXPECT_FALSE(absl::StrContains(third[0].detail(), "answers 200")) << third[0].detail();
    EXPECT_EQ(third[0].fallback_address(), "127.0.0.1");
    EXPECT_EQ(third[0].fallback_class(), c.class_down) << third[0].detail();
    EXPECT_EQ(third[0].fallback_http_status(), c.status_down);
  }
}

// A name that never resolved has no last known address: the DNS failure is
// all there is, with no fallback fields and no fallback sentence.
TEST_F(ProbesTest, NxdomainWithoutHistoryHasNoFallback) {
  for (const std::string spec : {
           "http: {url: 'http://never.example.test:${HTTP_PORT}/', resolvers: ['${DNS}']}",
           "tls: {host: never.example.test, port: ${TLS_PORT}, resolvers: ['${DNS}']}",
           "tcp: {host: never.example.test, port: ${TCP_PORT}, resolvers: ['${DNS}']}",
       }) {
    SCOPED_TRACE(spec);
    SetRules(R"({"listener": "dns", "name": "never.example.test", "rcode": "NXDOMAIN"})");
    ProberUnderTest prober;
    std::vector<v1::ProbeResult> results = prober.Run(MakeCheck(spec, "2s"));
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].failure_class(), FC::DNS_NXDOMAIN) << results[0].detail();
    EXPECT_EQ(results[0].fallback_address(), "");
    EXPECT_EQ(results[0].fallback_class(), FC::UNSPECIFIED);
    EXPECT_FALSE(absl::StrContains(results[0].detail(), "last known")) << results[0].detail();
  }
}

// ----------------------------------------------------------------- TLS ---

TEST_F(ProbesTest, TlsClasses) {
  auto spec = [](const std::string& extra) {
    return absl::StrCat("tls: {host: tls.example.test, port: ${TLS_PORT}, resolvers: ['${DNS}']",
                        extra, "}");
  };
  const std::string ca = ", ca_file: '${CA}'";
  RunRows({
      {"valid", "", spec(ca), FC::OK,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.kind(), "tls");
         EXPECT_EQ(r.tls_version(), "TLS1.3");
         EXPECT_FALSE(r.tls_cipher().empty());
         EXPECT_GT(r.tls_us(), 0u);
         EXPECT_GT(r.connect_us(), 0u);
         EXPECT_EQ(r.resolved_address(), "127.0.0.1");
         // valid: now-1h .. now+90d
         EXPECT_EQ(r.cert_days_left(), 89);
         ExpectFreshCertificate(r);
         EXPECT_FALSE(r.cert_issuer().empty());
         EXPECT_NE(std::find(r.cert_sans().begin(), r.cert_sans().end(), "tls.example.test"),
                   r.cert_sans().end());
       }},
      {"by IP", "", "tls: {host: 127.0.0.1, port: ${TLS_PORT}, ca_file: '${CA}'}", FC::OK},
      {"expired", R"({"listener": "tls", "cert": "expired"})", spec(ca), FC::TLS_CERT_EXPIRED,
       [](const v1::ProbeResult& r) {
         EXPECT_LT(r.cert_days_left(), 0);
         EXPECT_FALSE(r.cert_not_after().empty());
         EXPECT_FALSE(r.tls_version().empty());  // still described
       }},
      {"not yet valid", R"({"listener": "tls", "cert": "not_yet_valid"})", spec(ca),
       FC::TLS_CERT_NOT_YET_VALID},
      {"self-signed", R"({"listener": "tls", "cert": "self_signed"})", spec(ca),
       FC::TLS_CERT_UNTRUSTED},
      {"CA not trusted (system store)", "", spec(""), FC::TLS_CERT_UNTRUSTED},
      {"wrong host", R"({"listener": "tls", "cert": "wrong_host"})", spec(ca),
       FC::TLS_CERT_HOSTNAME},
      {"wrong IP", "",
       "tls: {host: 127.0.0.1, port: ${TLS_PORT}, server_name: 127.0.0.9, "
       "ca_file: '${CA}'}",
       FC::TLS_CERT_HOSTNAME},
      {"expiring, not configured", R"({"listener": "tls", "cert": "expiring"})", spec(ca), FC::OK,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.cert_days_left(), 4); }},
      {"expiring, min_days_valid 14", R"({"listener": "tls", "cert": "expiring"})",
       spec(absl::StrCat(ca, ", min_days_valid: 14")), FC::TLS_CERT_EXPIRING,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.cert_days_left(), 4);
         EXPECT_TRUE(absl::StrContains(r.detail(), "14")) << r.detail();
       }},
      {"valid, min_days_valid 14", "", spec(absl::StrCat(ca, ", min_days_valid: 14")), FC::OK},
      {"TLS1.2 server, min_version TLS1.3", R"({"listener": "tls", "max_version": "TLS1.2"})",
       spec(absl::StrCat(ca, ", min_version: TLS1.3")), FC::TLS_VERSION,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.tls_version(), "TLS1.2"); }},
      {"TLS1.2 server, min_version TLS1.2", R"({"listener": "tls", "max_version": "TLS1.2"})",
       spec(absl::StrCat(ca, ", min_version: TLS1.2")), FC::OK,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.tls_version(), "TLS1.2"); }},
      {"TLS1 server, min_version TLS1.2", R"({"listener": "tls", "max_version": "TLS1"})",
       spec(absl::StrCat(ca, ", min_version: TLS1.2")), FC::TLS_VERSION,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.tls_version(), "TLS1.0"); }},
      {"handshake alert", R"({"listener": "tls", "handshake_fail": "alert"})", spec(ca),
       FC::TLS_HANDSHAKE},
      {"handshake close", R"({"listener": "tls", "handshake_fail": "close"})", spec(ca),
       FC::TLS_HANDSHAKE},
      {"handshake garbage", R"({"listener": "tls", "handshake_fail": "garbage"})", spec(ca),
       FC::TLS_HANDSHAKE},
      {"not TLS (ssh banner)", "", "tls: {host: 127.0.0.1, port: ${TCP_PORT}, ca_file: '${CA}'}",
       FC::TLS_HANDSHAKE},
      {"silent server", R"({"listener": "tcp", "blackhole": true})",
       "tls: {host: 127.0.0.1, port: ${TCP_PORT}, ca_file: '${CA}'}", FC::TLS_HANDSHAKE, nullptr,
       "700ms"},
      {"reset at accept", R"({"listener": "tls", "reset_on_accept": true})", spec(ca),
       FC::TCP_RESET},
      {"refused", "", "tls: {host: 127.0.0.1, port: ${CLOSED_PORT}}", FC::TCP_REFUSED},
      {"connect times out", "", "tls: {host: 127.0.0.1, port: ${BLACKHOLE_PORT}}", FC::TCP_TIMEOUT,
       nullptr, "700ms"},
      {"unreachable", "", "tls: {host: 255.255.255.255, port: 443}", FC::TCP_UNREACHABLE},
      {"nxdomain", R"({"listener": "dns", "name": "tls.example.test", "rcode": "NXDOMAIN"})",
       spec(ca), FC::DNS_NXDOMAIN},
      {"dns no answer", R"({"listener": "dns", "name": "tls.example.test", "drop": true})",
       spec(ca), FC::DNS_TIMEOUT, nullptr, "700ms"},
      {"starttls refused by server",
       R"({"listener": "tcp", "banner": "220 mail.test ESMTP\r\n", "respond": "454 4.7.0 TLS not available\r\n"})",
       "tls: {host: 127.0.0.1, port: ${TCP_PORT}, starttls: smtp, ca_file: '${CA}'}",
       FC::TLS_HANDSHAKE,
       [](const v1::ProbeResult& r) {
         EXPECT_TRUE(absl::StrContains(r.detail(), "454")) << r.detail();
       }},
      {"starttls on an ssh server", "",
       "tls: {host: 127.0.0.1, port: ${TCP_PORT}, starttls: smtp, ca_file: '${CA}'}",
       FC::TLS_HANDSHAKE},
  });
}

// A one-connection SMTP server that really does STARTTLS (faultd's TCP
// listener cannot switch to TLS): 220, EHLO -> 250, STARTTLS -> 220, TLS
// handshake with faultd's `valid` certificate. Blocking, on its own thread,
// every wait bounded.
class StartTlsSmtpServer {
 public:
  explicit StartTlsSmtpServer(const faultd::CertKit& certs) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listen_fd_, 4);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, certs.cert(faultd::CertKind::kValid));
    SSL_CTX_use_PrivateKey(ctx_, certs.key(faultd::CertKind::kValid));
    thread_ = std::thread([this] { Serve(); });
  }
  ~StartTlsSmtpServer() {
    thread_.join();
    close(listen_fd_);
    SSL_CTX_free(ctx_);
  }
  int port() const { return port_; }
  bool handshake_done() const { return handshake_done_; }

 private:
  // Reads one line (bounded: 1 KiB, 3 s per read).
  static std::string ReadLine(int fd) {
    std::string line;
    char c;
    while (line.size() < 1024) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 3000) != 1 || recv(fd, &c, 1, 0) != 1) {
        break;
      }
      line.push_back(c);
      if (c == '\n') {
        break;
      }
    }
    return line;
  }
  static void Send(int fd, const std::string& s) { send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

  void Serve() {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) {
      return;
    }
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      return;
    }
    timeval tv{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    Send(fd, "220 mail.test ESMTP ready\r\n");
    if (absl::StartsWith(ReadLine(fd), "EHLO ")) {
      Send(fd, "250-mail.test greets you\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n");
      if (absl::StartsWith(ReadLine(fd), "STARTTLS")) {
        Send(fd, "220 2.0.0 Ready to start TLS\r\n");
        SSL* ssl = SSL_new(ctx_);
        SSL_set_fd(ssl, fd);
        handshake_done_ = SSL_accept(ssl) == 1;
        if (handshake_done_) {
          SSL_shutdown(ssl);
        }
        SSL_free(ssl);
      }
    }
    close(fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  SSL_CTX* ctx_ = nullptr;
  std::atomic<bool> handshake_done_{false};
  std::thread thread_;
};

TEST_F(ProbesTest, TlsStartTlsSmtp) {
  StartTlsSmtpServer smtp(server_->certs());
  ProberUnderTest prober;
  std::vector<v1::ProbeResult> r =
      prober.Run(MakeCheck(absl::StrCat("tls: {host: 127.0.0.1, port: ", smtp.port(),
                                        ", starttls: smtp, ca_file: '${CA}', min_days_valid: 14}"),
                           "3s"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].failure_class(), FC::OK) << r[0].detail();
  EXPECT_EQ(r[0].cert_days_left(), 89);
  EXPECT_FALSE(r[0].tls_version().empty());
}

// ----------------------------------------------------------------- TCP ---

TEST_F(ProbesTest, TcpClasses) {
  auto spec = [](const std::string& extra) {
    return absl::StrCat("tcp: {host: tcp.example.test, port: ${TCP_PORT}, resolvers: ['${DNS}']",
                        extra, "}");
  };
  RunRows({
      {"connect only", "", spec(""), FC::OK,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.kind(), "tcp");
         EXPECT_GT(r.connect_us(), 0u);
         EXPECT_EQ(r.resolved_address(), "127.0.0.1");
       }},
      {"ssh banner", "", spec(R"(, expect_banner: '^SSH-2\.0-')"), FC::OK,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.banner(), "SSH-2.0-OpenSSH_9.2"); }},
      {"smtp banner", R"({"listener": "tcp", "banner": "220 mail.test ESMTP\r\n"})",
       spec(", expect_banner: '^220 '"), FC::OK,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.banner(), "220 mail.test ESMTP"); }},
      {"ftp banner", R"({"listener": "tcp", "banner": "220 ftp.test\r\n"})",
       spec(", expect_banner: '^220'"), FC::OK,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.banner(), "220 ftp.test"); }},
      {"smtp dialogue with send",
       R"({"listener": "tcp", "banner": "220 mail.test ESMTP\r\n", "respond": "250 mail.test\r\n"})",
       spec(R"(, send: "EHLO sonde\r\n", expect_banner: '250 mail\.test')"), FC::OK,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.banner(), "220 mail.test ESMTP\\r\\n250 mail.test");
       }},
      {"banner after a delay", R"({"listener": "tcp", "banner_delay_ms": 200})",
       spec(", expect_banner: '^SSH-'"), FC::OK},
      {"wrong banner", R"({"listener": "tcp", "banner": "220 mail.test ESMTP\r\n"})",
       spec(", expect_banner: '^SSH-'"), FC::BANNER_MISMATCH,
       [](const v1::ProbeResult& r) {
         EXPECT_EQ(r.banner(), "220 mail.test ESMTP");
         EXPECT_TRUE(absl::StrContains(r.detail(), "220 mail.test")) << r.detail();
       },
       "700ms"},
      {"closed before a banner", R"({"listener": "tcp", "close": true})",
       spec(", expect_banner: '^SSH-'"), FC::BANNER_MISMATCH},
      {"huge banner, no match", LargeAnswerRule("tcp", "banner", "\\\"status\\\":", ""),
       spec(R"(, expect_banner: '"status":\s*"up"', max_banner_bytes: 65536)"), FC::BANNER_MISMATCH,
       [](const v1::ProbeResult& r) {
         EXPECT_TRUE(absl::StrContains(r.detail(), "read 65536 bytes")) << r.detail();
       }},
      {"silent server", R"({"listener": "tcp", "blackhole": true})",
       spec(", expect_banner: '^SSH-'"), FC::TIMEOUT,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.banner(), ""); }, "700ms"},
      {"reset at accept", R"({"listener": "tcp", "reset_on_accept": true})",
       spec(", expect_banner: '^SSH-'"), FC::TCP_RESET},
      {"refused", "", "tcp: {host: 127.0.0.1, port: ${CLOSED_PORT}}", FC::TCP_REFUSED},
      {"connect times out", "", "tcp: {host: 127.0.0.1, port: ${BLACKHOLE_PORT}}", FC::TCP_TIMEOUT,
       nullptr, "700ms"},
      {"unreachable", "", "tcp: {host: 255.255.255.255, port: 22}", FC::TCP_UNREACHABLE},
      {"nxdomain", R"({"listener": "dns", "name": "tcp.example.test", "rcode": "NXDOMAIN"})",
       spec(""), FC::DNS_NXDOMAIN},
      {"refused by dns", R"({"listener": "dns", "name": "tcp.example.test", "rcode": "REFUSED"})",
       spec(""), FC::DNS_REFUSED},
      {"dns no answer", R"({"listener": "dns", "name": "tcp.example.test", "drop": true})",
       spec(""), FC::DNS_TIMEOUT, nullptr, "700ms"},
      {"per-source: 127.0.0.3 gets a reset",
       R"({"listener": "tcp", "source": "127.0.0.3", "reset_on_accept": true})",
       spec(", expect_banner: '^SSH-'"), FC::TCP_RESET, nullptr, "3s", "127.0.0.3"},
      {"per-source: 127.0.0.2 gets the banner",
       R"({"listener": "tcp", "source": "127.0.0.3", "reset_on_accept": true})",
       spec(", expect_banner: '^SSH-'"), FC::OK, nullptr, "3s", "127.0.0.2"},
  });
}

// ----------------------------------------------------------------- DNS ---

constexpr char kDnsZone[] = R"(
  {"listener": "dns", "name": "a.example.test", "source": "127.0.0.3",
   "records": [{"type": "A", "data": "127.0.0.33", "ttl": 33}]},
  {"listener": "dns", "name": "a.example.test",
   "records": [{"type": "A", "data": "192.0.2.10", "ttl": 300},
               {"type": "A", "data": "192.0.2.11", "ttl": 300},
               {"type": "AAAA", "data": "2001:db8::10", "ttl": 600},
               {"type": "MX", "data": "10 mail.example.test", "ttl": 3600},
               {"type": "TXT", "data": "v=spf1 -all", "ttl": 120},
               {"type": "NS", "data": "ns1.example.test", "ttl": 86400},
               {"type": "SOA", "data": "ns1.example.test hostmaster.example.test 2024010101 7200 900 1209600 300", "ttl": 900}]},
  {"listener": "dns", "name": "www.example.test",
   "records": [{"type": "CNAME", "data": "a.example.test", "ttl": 60}]},
  {"listener": "dns", "name": "only-a.example.test",
   "records": [{"type": "A", "data": "192.0.2.20"}]},
  {"listener": "dns", "name": "nx.example.test", "rcode": "NXDOMAIN"},
  {"listener": "dns", "name": "empty.example.test", "nodata": true},
  {"listener": "dns", "name": "broken.example.test", "rcode": "SERVFAIL"},
  {"listener": "dns", "name": "closed.example.test", "rcode": "REFUSED"},
  {"listener": "dns", "name": "gone.example.test", "drop": true},
  {"listener": "dns", "name": "big.example.test", "truncate": true,
   "records": [{"type": "A", "data": "192.0.2.1"}, {"type": "A", "data": "192.0.2.2"},
               {"type": "A", "data": "192.0.2.3"}]})";

std::string DnsSpec(const std::string& name, const std::string& type,
                    const std::string& extra = "") {
  return absl::StrCat("dns: {name: ", name, ", type: ", type, ", resolvers: ['${DNS}']", extra,
                      "}");
}

// Answers of the first resolver as "data/ttl".
std::vector<std::string> AnswerList(const v1::ProbeResult& r) {
  std::vector<std::string> out;
  if (r.dns_size() == 0) {
    return out;
  }
  for (const v1::DnsRecord& a : r.dns(0).answers()) {
    out.push_back(absl::StrCat(a.type(), " ", a.data(), "/", a.ttl()));
  }
  return out;
}

TEST_F(ProbesTest, DnsClasses) {
  using V = std::vector<std::string>;
  auto answers = [](V want) {
    return [want](const v1::ProbeResult& r) {
      ASSERT_EQ(r.dns_size(), 1);
      EXPECT_EQ(r.dns(0).resolver(), ProbesTest::Expand("${DNS}"));
      EXPECT_EQ(r.dns(0).rcode(), "NOERROR");
      EXPECT_GT(r.dns(0).rtt_us(), 0u);
      EXPECT_EQ(AnswerList(r), want);
    };
  };
  auto rcode = [](const std::string& want) {
    return [want](const v1::ProbeResult& r) {
      ASSERT_EQ(r.dns_size(), 1);
      EXPECT_EQ(r.dns(0).rcode(), want);
      EXPECT_EQ(r.dns_rcode(), want);
      EXPECT_TRUE(r.dns(0).answers().empty());
    };
  };
  RunRows({
      {"A", kDnsZone, DnsSpec("a.example.test", "A"), FC::OK,
       answers({"A 192.0.2.10/300", "A 192.0.2.11/300"})},
      {"AAAA", kDnsZone, DnsSpec("a.example.test", "AAAA"), FC::OK,
       answers({"AAAA 2001:db8::10/600"})},
      {"MX", kDnsZone, DnsSpec("a.example.test", "MX"), FC::OK,
       answers({"MX 10 mail.example.test./3600"})},
      {"TXT", kDnsZone, DnsSpec("a.example.test", "TXT"), FC::OK,
       answers({"TXT \"v=spf1 -all\"/120"})},
      {"NS", kDnsZone, DnsSpec("a.example.test", "NS"), FC::OK,
       answers({"NS ns1.example.test./86400"})},
      {"SOA", kDnsZone, DnsSpec("a.example.test", "SOA"), FC::OK,
       answers({"SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 900 1209600 "
                "300/900"})},
      {"CNAME", kDnsZone, DnsSpec("www.example.test", "CNAME"), FC::OK,
       answers({"CNAME a.example.test./60"})},
      {"A through a CNAME", kDnsZone,
       DnsSpec("www.example.test", "A", ", expect_answers: [192.0.2.10, 192.0.2.11]"), FC::OK,
       answers({"CNAME a.example.test./60", "A 192.0.2.10/300", "A 192.0.2.11/300"})},
      {"exact set matches", kDnsZone,
       DnsSpec("a.example.test", "A", ", expect_answers: [192.0.2.11, 192.0.2.10]"), FC::OK},
      {"exact set differs", kDnsZone,
       DnsSpec("a.example.test", "A", ", expect_answers: [192.0.2.10]"), FC::DNS_UNEXPECTED_ANSWER,
       [](const v1::ProbeResult& r) { EXPECT_EQ(r.dns(0).answers_size(), 2); }},
      {"contains matches", kDnsZone,
       DnsSpec("a.example.test", "A", ", expect_answers: [192.0.2.10], answers_match: contains"),
       FC::OK},
      {"contains misses", kDnsZone,
       DnsSpec("a.example.test", "A", ", expect_answers: [192.0.2.99], answers_match: contains"),
       FC::DNS_UNEXPECTED_ANSWER},
      {"MX exact, trailing dot optional", kDnsZone,
       DnsSpec("a.example.test", "MX", ", expect_answers: ['10 mail.example.test']"), FC::OK},
      {"nxdomain", kDnsZone, DnsSpec("nx.example.test", "A"), FC::DNS_NXDOMAIN, rcode("NXDOMAIN")},
      {"nxdomain expected", kDnsZone, DnsSpec("nx.example.test", "A", ", expect_rcode: NXDOMAIN"),
       FC::OK, rcode("NXDOMAIN")},
      {"nodata (name exists, no records)", kDnsZone, DnsSpec("empty.example.test", "A"),
       FC::DNS_NODATA, rcode("NOERROR")},
      {"nodata (no record of the type)", kDnsZone, DnsSpec("only-a.example.test", "MX"),
       FC::DNS_NODATA},
      {"servfail", kDnsZone, DnsSpec("broken.example.test", "A"), FC::DNS_SERVFAIL,
       rcode("SERVFAIL")},
      {"refused", kDnsZone, DnsSpec("closed.example.test", "A"), FC::DNS_REFUSED, rcode("REFUSED")},
      {"no answer", kDnsZone, DnsSpec("gone.example.test", "A"), FC::DNS_TIMEOUT,
       [](const v1::ProbeResult& r) {
         ASSERT_EQ(r.dns_size(), 1);
         EXPECT_EQ(r.dns(0).failure_class(), FC::DNS_TIMEOUT);
       },
       "700ms"},
      {"resolver port closed", kDnsZone,
       "dns: {name: a.example.test, type: A, resolvers: ['127.0.0.1:${CLOSED_PORT}']}",
       FC::DNS_TIMEOUT, nullptr, "700ms"},
      {"per-source: 127.0.0.3", kDnsZone, DnsSpec("a.example.test", "A"), FC::OK,
       answers({"A 127.0.0.33/33"}), "3s", "127.0.0.3"},
      {"per-source: 127.0.0.2", kDnsZone, DnsSpec("a.example.test", "A"), FC::OK,
       answers({"A 192.0.2.10/300", "A 192.0.2.11/300"}), "3s", "127.0.0.2"},
  });
}

TEST_F(ProbesTest, DnsTruncatedAnswerIsRetriedOverTcp) {
  SetRules(kDnsZone);
  server_->ResetStats();
  ProberUnderTest prober;
  std::vector<v1::ProbeResult> r = prober.Run(MakeCheck(
      DnsSpec("big.example.test", "A", ", expect_answers: [192.0.2.1, 192.0.2.2, 192.0.2.3]"),
      "3s"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].failure_class(), FC::OK) << r[0].detail();
  EXPECT_EQ(AnswerList(r[0]),
            (std::vector<std::string>{"A 192.0.2.1/60", "A 192.0.2.2/60", "A 192.0.2.3/60"}));
  faultd::StatsSnapshot s = server_->stats();
  EXPECT_GE(s.Listener(ListenerKind::kDns, "truncated"), 1u);
  EXPECT_GE(s.Listener(ListenerKind::kDns, "tcp_queries"), 1u);
}

TEST_F(ProbesTest, DnsEveryResolverIsRecordedSeparately) {
  // A second DNS server that answers differently.
  faultd::FaultServerOptions o;
  o.dns_listen = "127.0.0.1:0";
  o.rules_json = R"([{"listener": "dns", "name": "a.example.test",
                      "records": [{"type": "A", "data": "192.0.2.99", "ttl": 5}]}])";
  FaultServer second(std::move(o));
  ASSERT_TRUE(second.Start().ok());
  std::string second_addr = absl::StrCat("127.0.0.1:", second.ports().dns);
  SetRules(kDnsZone);
  struct Case {
    std::string extra;
    FC::Code want;
  };
  for (const Case& c : std::vector<Case>{
           {"", FC::OK},
           {", expect_answers: [192.0.2.10, 192.0.2.11]", FC::DNS_UNEXPECTED_ANSWER},
       }) {
    ProberUnderTest prober;
    std::vector<v1::ProbeResult> r = prober.Run(
        MakeCheck(absl::StrCat("dns: {name: a.example.test, type: A, resolvers: ['${DNS}', '",
                               second_addr, "']", c.extra, "}"),
                  "3s"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].failure_class(), c.want) << r[0].detail();
    ASSERT_EQ(r[0].dns_size(), 2);
    EXPECT_EQ(r[0].dns(0).resolver(), Expand("${DNS}"));
    EXPECT_EQ(r[0].dns(1).resolver(), second_addr);
    EXPECT_EQ(r[0].dns(0).failure_class(), FC::OK);
    EXPECT_EQ(r[0].dns(1).failure_class(), c.want);
    ASSERT_EQ(r[0].dns(0).answers_size(), 2);
    EXPECT_EQ(r[0].dns(0).answers(0).ttl(), 300u);
    ASSERT_EQ(r[0].dns(1).answers_size(), 1);
    EXPECT_EQ(r[0].dns(1).answers(0).data(), "192.0.2.99");
    EXPECT_EQ(r[0].dns(1).answers(0).ttl(), 5u);
    EXPECT_TRUE(absl::StrContains(r[0].detail(), second_addr)) << r[0].detail();
  }
  // Run states are reused between checks (spare_pool.h): a one-resolver
  // check right after the two-resolver ones shows nothing of theirs.
  for (int i = 0; i < 3; ++i) {
    ProberUnderTest prober;
    std::vector<v1::ProbeResult> r =
        prober.Run(MakeCheck("dns: {name: a.example.test, type: A, resolvers: ['${DNS}']}", "3s"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].failure_class(), FC::OK) << r[0].detail();
    ASSERT_EQ(r[0].dns_size(), 1);
    EXPECT_EQ(r[0].dns(0).resolver(), Expand("${DNS}"));
    EXPECT_EQ(r[0].dns(0).answers_size(), 2);
    EXPECT_FALSE(absl::StrContains(r[0].detail(), second_addr)) << r[0].detail();
  }
  second.Stop();
}

// --------------------------------------------- classes not reachable here ---

// The probe policy judges the address each probe type is about to use —
// after resolution through faultd's DNS, the DNS server itself for DNS
// checks — and refuses it as PROBER_POLICY without connecting; a policy
// that does not cover the address changes nothing.
TEST_F(ProbesTest, ProbePolicyRefusesBeforeConnecting) {
  SetRules("");
  const std::vector<std::string> specs = {
      "http: {url: 'http://app.example.test:${HTTP_PORT}/', resolvers: ['${DNS}']}",
      "tcp: {host: tcp.example.test, port: ${TCP_PORT}, resolvers: ['${DNS}']}",
      "tls: {host: tls.example.test, port: ${TLS_PORT}, resolvers: ['${DNS}'], ca_file: '${CA}'}",
      "dns: {name: a.example.test, type: A, resolvers: ['${DNS}']}",
  };
  v1::ProbePolicy deny_loopback;
  deny_loopback.add_deny_networks("127.0.0.0/8");
  v1::ProbePolicy deny_other;
  deny_other.add_deny_networks("127.0.0.2/32");
  for (const std::string& spec : specs) {
    SCOPED_TRACE(spec);
    ProberUnderTest refused;
    refused.set_policy(*common::ProbePolicy::Create(deny_loopback));
    std::vector<v1::ProbeResult> r = refused.Run(MakeCheck(spec, "2s"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(FC::Code_Name(r[0].failure_class()), "PROBER_POLICY") << r[0].detail();
    EXPECT_FALSE(r[0].ok());
    EXPECT_EQ(r[0].connect_us(), 0u);
    if (!absl::StartsWith(spec, "dns")) {
      EXPECT_TRUE(absl::StrContains(r[0].detail(), "in deny_networks 127.0.0.0/8"))
          << r[0].detail();
    }

    ProberUnderTest allowed;
    allowed.set_policy(*common::ProbePolicy::Create(deny_other));
    r = allowed.Run(MakeCheck(spec, "2s"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_NE(FC::Code_Name(r[0].failure_class()), "PROBER_POLICY") << r[0].detail();
  }
}

TEST_F(ProbesTest, ProberErrorIsNeverTheTargetsFault) {
  // A source address the host does not have: binding fails, which is the
  // prober's own fault, not the target's.
  ProberUnderTest prober("192.0.2.77");
  std::vector<v1::ProbeResult> r =
      prober.Run(MakeCheck("tcp: {host: 127.0.0.1, port: ${TCP_PORT}}", "1s"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].failure_class(), FC::PROBER_ERROR) << r[0].detail();
  EXPECT_FALSE(r[0].ok());
}

TEST_F(ProbesTest, PatternRe2RefusesIsAProberErrorNamingTheField) {
  // A config this version did not validate (one an older collector accepted
  // as ECMAScript) may hold a pattern RE2 refuses: every run says so instead
  // of matching nothing or everything.
  SetRules("");
  struct Case {
    v1::Check check;
    std::string field;
  };
  std::vector<Case> cases;
  cases.push_back({MakeCheck("http: {url: '${HTTP}/'}", "1s"), "http.expect_body: "});
  cases.back().check.mutable_http()->set_expect_body("(a)\\1");
  cases.push_back({MakeCheck("http: {url: '${HTTP}/'}", "1s"), "http.expect_header.X-Version: "});
  (*cases.back().check.mutable_http()->mutable_expect_header())["X-Version"] = "^(?=2)";
  cases.push_back(
      {MakeCheck("tcp: {host: 127.0.0.1, port: ${TCP_PORT}}", "1s"), "tcp.expect_banner: "});
  cases.back().check.mutable_tcp()->set_expect_banner("^SSH-(?!1)");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    ProberUnderTest prober;
    std::vector<v1::ProbeResult> r = prober.Run(c.check);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].failure_class(), FC::PROBER_ERROR) << r[0].detail();
    EXPECT_TRUE(absl::StartsWith(r[0].detail(), c.field + "not a valid RE2 pattern: "))
        << r[0].detail();
  }
}

}  // namespace
}  // namespace sonde::prober
