// HttpProbe through real loopback sockets against an in-process server.
#include "prober/probes/http/http_probe.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/x509_vfy.h>

#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "prober/io/curl_multi.h"
#include "prober/io/dns_resolver.h"

namespace sonde::prober {
namespace {

using FC = v1::FailureClass;

class HttpProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/ok", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("Sign in here", "text/plain");
    });
    server_.Get("/fail", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content("down", "text/plain");
    });
    server_.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      res.set_content("late", "text/plain");
    });
    server_.Get("/redirect",
                [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/ok"); });
    // /echo records each request as it arrived (HEAD is served by Get).
    auto record = [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back({req.method, req.body, req.get_header_value("X-One"),
                       req.get_header_value("X-Two"), req.get_header_value("User-Agent"),
                       req.has_header("Content-Length")});
      res.set_content("echo", "text/plain");
    };
    server_.Get("/echo", record);
    server_.Post("/echo", record);
    server_.Put("/echo", record);
    server_.Delete("/echo", record);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(loop_.Init().ok());
    resolver_ = *DnsResolver::Create(&loop_, "");
    curl_ = *CurlMulti::Create(&loop_);
    env_ = ProbeEnv{&loop_, resolver_.get(), curl_.get(), ""};
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }

  std::vector<v1::ProbeResult> RunCheck(const std::string& yaml_http) {
    auto config = common::ParseConfig(
        absl::StrCat("checks:\n  - name: c\n    timeout: 1s\n    http: ", yaml_http, "\n"),
        "t.yaml");
    EXPECT_TRUE(config.ok()) << config.status();
    HttpProbe probe(config->checks(0), &env_);
    std::vector<v1::ProbeResult> out;
    probe.Run(loop_.Now() + std::chrono::seconds(1), [&](Probe::Results r) {
      for (const v1::ProbeResult* x : r) {
        out.push_back(*x);
      }
      loop_.Stop();
    });
    loop_.RunAfter(std::chrono::seconds(5), [&] { loop_.Stop(); });  // safety net
    loop_.Run();
    return out;
  }

  std::string Url(const std::string& path) {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

  struct Seen {
    std::string method, body, x_one, x_two, user_agent;
    bool has_length = false;
  };
  Seen LastSeen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.empty() ? Seen{} : seen_.back();
  }

  httplib::Server server_;
  std::mutex mu_;
  std::vector<Seen> seen_;  // guarded by mu_
  int port_ = 0;
  std::thread thread_;
  common::EventLoop loop_;
  std::unique_ptr<DnsResolver> resolver_;
  std::unique_ptr<CurlMulti> curl_;
  ProbeEnv env_;
};

TEST_F(HttpProbeTest, HealthyWithTimings) {
  auto r = RunCheck(absl::StrCat("{url: '", Url("/ok"), "', expect_body: 'Sign in'}"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].failure_class(), FC::OK) << r[0].detail();
  EXPECT_EQ(r[0].http_status(), 200);
  EXPECT_GT(r[0].connect_us(), 0u);
  EXPECT_GT(r[0].total_us(), 0u);
  EXPECT_GE(r[0].total_us(), r[0].connect_us());
  EXPECT_EQ(r[0].resolved_address(), "127.0.0.1");
  EXPECT_EQ(r[0].detail(), absl::StrCat("HTTP 200 from 127.0.0.1:", port_));
}

TEST_F(HttpProbeTest, AStatusOutsideTheRangesNamesTheAddressAndTheRanges) {
  auto fail = RunCheck(absl::StrCat("{url: '", Url("/fail"), "'}"));
  ASSERT_EQ(fail.size(), 1u);
  EXPECT_EQ(fail[0].detail(),
            absl::StrCat("HTTP 503 from 127.0.0.1:", port_, ", expected 200-399"));
  auto ranges =
      RunCheck(absl::StrCat("{url: '", Url("/fail"), "', expect_status: ['200', '404']}"));
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].detail(),
            absl::StrCat("HTTP 503 from 127.0.0.1:", port_, ", expected 200,404"));
  // Then an OK run on the same thread: nothing of the last detail is left.
  EXPECT_EQ(RunCheck(absl::StrCat("{url: '", Url("/ok"), "'}"))[0].detail(),
            absl::StrCat("HTTP 200 from 127.0.0.1:", port_));
}

TEST_F(HttpProbeTest, StatusBodyAndRedirectFailures) {
  EXPECT_EQ(RunCheck(absl::StrCat("{url: '", Url("/fail"), "'}"))[0].failure_class(),
            FC::HTTP_STATUS);
  EXPECT_EQ(RunCheck(absl::StrCat("{url: '", Url("/ok"), "', expect_body: 'Welcome'}"))[0]
                .failure_class(),
            FC::HTTP_BODY);
  EXPECT_EQ(RunCheck(absl::StrCat("{url: '", Url("/redirect"), "', fail_on_redirect: true}"))[0]
                .failure_class(),
            FC::HTTP_STATUS);
  auto followed = RunCheck(absl::StrCat("{url: '", Url("/redirect"), "', follow_redirects: true}"));
  EXPECT_EQ(followed[0].failure_class(), FC::OK);
  EXPECT_EQ(followed[0].http_status(), 200);
  EXPECT_EQ(RunCheck(absl::StrCat("{url: '", Url("/fail"), "', expect_status: ['500-599']}"))[0]
                .failure_class(),
            FC::OK);
}

TEST_F(HttpProbeTest, RefusedAndTimeout) {
  // A port nobody listens on: bind, read the port, close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int closed_port = ntohs(addr.sin_port);
  close(fd);
  auto refused = RunCheck(absl::StrCat("{url: 'http://127.0.0.1:", closed_port, "/'}"));
  EXPECT_EQ(refused[0].failure_class(), FC::TCP_REFUSED) << refused[0].detail();
  auto slow = RunCheck(absl::StrCat("{url: '", Url("/slow"), "'}"));
  EXPECT_EQ(slow[0].failure_class(), FC::HTTP_TIMEOUT) << slow[0].detail();
  EXPECT_FALSE(slow[0].ok());
}

TEST_F(HttpProbeTest, RequestsPerRunGiveOneResultEach) {
  auto r = RunCheck(absl::StrCat("{url: '", Url("/ok"), "', requests_per_run: 4}"));
  ASSERT_EQ(r.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r[i].request_index(), i);
    EXPECT_EQ(r[i].failure_class(), FC::OK);
  }
}

// The multi pools easy handles without resetting them: each check in turn
// (on the same handle) sends exactly what it says, nothing the one before
// set.
TEST_F(HttpProbeTest, PooledHandleCarriesNothingFromTheCheckBefore) {
  const std::string echo = Url("/echo");
  struct Step {
    std::string spec;
    std::string method, body, x_one, x_two, user_agent;
  };
  const std::string ua = "sonde-prober/0.1";
  const std::vector<Step> steps = {
      {"method: POST, body: 'a=1', headers: {X-One: '1'}", "POST", "a=1", "1", "", ua},
      {"", "GET", "", "", "", ua},
      {"method: HEAD", "HEAD", "", "", "", ua},
      {"method: PUT, body: xyz, headers: {X-Two: '2', User-Agent: other}", "PUT", "xyz", "", "2",
       "other"},
      {"method: DELETE", "DELETE", "", "", "", ua},
      {"method: GET", "GET", "", "", "", ua},
      {"method: POST, body: 'b=2'", "POST", "b=2", "", "", ua},
      {"method: HEAD, headers: {X-One: 'h'}", "HEAD", "", "h", "", ua},
      {"", "GET", "", "", "", ua},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.spec);
    auto r =
        RunCheck(absl::StrCat("{url: '", echo, "'", step.spec.empty() ? "" : ", ", step.spec, "}"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].failure_class(), FC::OK) << r[0].detail();
    Seen seen = LastSeen();
    EXPECT_EQ(seen.method, step.method);
    EXPECT_EQ(seen.body, step.body);
    EXPECT_EQ(seen.has_length, !step.body.empty());
    EXPECT_EQ(seen.x_one, step.x_one);
    EXPECT_EQ(seen.x_two, step.x_two);
    EXPECT_EQ(seen.user_agent, step.user_agent);
    // HEAD reads no body; every other answer's is read whole.
    EXPECT_EQ(r[0].body_bytes(), step.method == "HEAD" ? 0u : 4u);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(seen_.size(), steps.size());
  }
  // Redirects followed, then not: the second check sees the 302 itself.
  auto followed = RunCheck(absl::StrCat("{url: '", Url("/redirect"), "', follow_redirects: true}"));
  EXPECT_EQ(followed[0].http_status(), 200);
  auto not_followed = RunCheck(absl::StrCat("{url: '", Url("/redirect"), "'}"));
  EXPECT_EQ(not_followed[0].http_status(), 302);
  EXPECT_EQ(not_followed[0].failure_class(), FC::OK) << not_followed[0].detail();
  // A body cap, then none: the second reads the whole body again.
  auto capped = RunCheck(
      absl::StrCat("{url: '", Url("/ok"), "', max_body_bytes: 4, expect_body: 'Sign in'}"));
  EXPECT_EQ(capped[0].failure_class(), FC::HTTP_BODY) << capped[0].detail();
  auto whole = RunCheck(absl::StrCat("{url: '", Url("/ok"), "', expect_body: 'Sign in'}"));
  EXPECT_EQ(whole[0].failure_class(), FC::OK) << whole[0].detail();
  // A failed transfer's error text is not the next one's.
  auto slow = RunCheck(absl::StrCat("{url: '", Url("/slow"), "'}"));
  EXPECT_EQ(slow[0].failure_class(), FC::HTTP_TIMEOUT);
  auto after = RunCheck(absl::StrCat("{url: '", Url("/fail"), "'}"));
  EXPECT_EQ(after[0].failure_class(), FC::HTTP_STATUS);
  EXPECT_EQ(after[0].detail().find("imeout"), std::string::npos) << after[0].detail();
}

TEST(HttpClassifyTest, CurlCodesMapToLayers) {
  struct Case {
    CURLcode code;
    long os_errno, verify;
    bool connected, tls_done, https;
    FC::Code want;
  };
  for (const Case& c : std::vector<Case>{
           {CURLE_COULDNT_CONNECT, ECONNREFUSED, 0, false, false, false, FC::TCP_REFUSED},
           {CURLE_COULDNT_CONNECT, ENETUNREACH, 0, false, false, false, FC::TCP_UNREACHABLE},
           {CURLE_OPERATION_TIMEDOUT, 0, 0, false, false, false, FC::TCP_TIMEOUT},
           {CURLE_OPERATION_TIMEDOUT, 0, 0, true, false, true, FC::TLS_HANDSHAKE},
           {CURLE_OPERATION_TIMEDOUT, 0, 0, true, true, true, FC::HTTP_TIMEOUT},
           {CURLE_PEER_FAILED_VERIFICATION, 0, X509_V_ERR_CERT_HAS_EXPIRED, true, false, true,
            FC::TLS_CERT_EXPIRED},
           {CURLE_PEER_FAILED_VERIFICATION, 0, X509_V_ERR_CERT_NOT_YET_VALID, true, false, true,
            FC::TLS_CERT_NOT_YET_VALID},
           {CURLE_PEER_FAILED_VERIFICATION, 0, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, true, false,
            true, FC::TLS_CERT_UNTRUSTED},
           {CURLE_PEER_FAILED_VERIFICATION, 0, X509_V_OK, true, false, true, FC::TLS_CERT_HOSTNAME},
           // curl 7.88 checks the name before it records the verify result.
           {CURLE_PEER_FAILED_VERIFICATION, 0, X509_V_ERR_UNSPECIFIED, true, false, true,
            FC::TLS_CERT_HOSTNAME},
           {CURLE_RECV_ERROR, ECONNRESET, 0, true, false, false, FC::TCP_RESET},
           {CURLE_SSL_CONNECT_ERROR, ECONNRESET, 0, true, false, true, FC::TCP_RESET},
           {CURLE_SSL_CONNECT_ERROR, 0, 0, true, false, true, FC::TLS_HANDSHAKE},
           {CURLE_GOT_NOTHING, 0, 0, true, false, false, FC::HTTP_PROTOCOL},
           {CURLE_WEIRD_SERVER_REPLY, 0, 0, true, false, false, FC::HTTP_PROTOCOL},
       }) {
    EXPECT_EQ(
        HttpProbe::ClassifyCurl(c.code, c.os_errno, c.verify, c.connected, c.tls_done, c.https),
        c.want)
        << curl_easy_strerror(c.code);
  }
}

}  // namespace
}  // namespace sonde::prober
