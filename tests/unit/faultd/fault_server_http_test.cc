// FaultServer over real loopback sockets: HTTP listener behaviours, the
// TCP banner listener, the control endpoint, caps and the blackhole
// listener.
#include <poll.h>
#include <sys/socket.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/faultd/server_fixture.h"
#include "tests/unit/faultd/test_clients.h"

namespace sonde::faultd::testing {
namespace {

constexpr ListenerKind kHttp = ListenerKind::kHttp;

TEST_F(FaultServerTest, DefaultAnswerIs200Ok) {
  StartServer();
  HttpResult r = HttpGet(addr(kHttp), "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_TRUE(absl::StrContains(r.head, "Content-Length: 3"));
  EXPECT_EQ(server_->stats().Listener(kHttp, "status_200"), 1u);
  EXPECT_EQ(server_->stats().Unmatched(kHttp, "requests"), 1u);
}

TEST_F(FaultServerTest, StatusBodyAndHeadersFromRule) {
  StartServer(R"([{"listener": "http", "status": 404, "body": "nope",
                   "headers": {"X-Fault": "yes", "Content-Type": "text/html"}}])");
  HttpResult r = HttpGet(addr(kHttp), "/x");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "nope");
  EXPECT_TRUE(absl::StrContains(r.head, "X-Fault: yes"));
  EXPECT_TRUE(absl::StrContains(r.head, "Content-Type: text/html"));
  EXPECT_FALSE(absl::StrContains(r.head, "text/plain"));
  EXPECT_EQ(server_->stats().Rule(0, "status_404"), 1u);
}

TEST_F(FaultServerTest, FailShareFailsExactlyThatShare) {
  StartServer(R"([{"listener": "http", "fail_share": 0.3}])");
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    HttpResult r = HttpGet(addr(kHttp), "/");
    ASSERT_TRUE(r.status == 200 || r.status == 503) << r.status;
    if (r.status == 503) {
      ++failures;
    }
  }
  EXPECT_EQ(failures, 6);
  StatsSnapshot s = server_->stats();
  EXPECT_EQ(s.Rule(0, "requests"), 20u);
  EXPECT_EQ(s.Rule(0, "status_503"), 6u);
  EXPECT_EQ(s.Rule(0, "injected_failures"), 6u);
  // Reset restarts the sequence and the counters.
  server_->ResetStats();
  EXPECT_EQ(server_->stats().Rule(0, "requests"), 0u);
}

TEST_F(FaultServerTest, BehaviourPerSourceAddressAndPath) {
  StartServer(R"([
    {"id": "login-ber", "listener": "http", "source": "127.0.0.3", "path_prefix": "/login",
     "status": 503},
    {"id": "ams", "listener": "http", "source": "127.0.0.4", "status": 500}])");
  EXPECT_EQ(HttpGet(addr(kHttp), "/login", "127.0.0.2").status, 200);
  EXPECT_EQ(HttpGet(addr(kHttp), "/login", "127.0.0.3").status, 503);
  EXPECT_EQ(HttpGet(addr(kHttp), "/login/form", "127.0.0.3").status, 503);
  EXPECT_EQ(HttpGet(addr(kHttp), "/home", "127.0.0.3").status, 200);
  EXPECT_EQ(HttpGet(addr(kHttp), "/home", "127.0.0.4").status, 500);
  StatsSnapshot s = server_->stats();
  EXPECT_EQ(s.Rule(0, "requests"), 2u);  // /login* from 127.0.0.3
  EXPECT_EQ(s.Rule(1, "requests"), 1u);
  EXPECT_EQ(s.Unmatched(kHttp, "requests"), 2u);
}

TEST_F(FaultServerTest, DelayHeaders) {
  StartServer(R"([{"listener": "http", "delay_headers_ms": 300}])");
  HttpResult r = HttpGet(addr(kHttp), "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(r.first_byte_seconds, 0.28);
  EXPECT_LT(r.first_byte_seconds, 2.0);
}

TEST_F(FaultServerTest, DelayBodySendsHeadersFirst) {
  StartServer(R"([{"listener": "http", "delay_body_ms": 400, "body": "late"}])");
  HttpResult r = HttpGet(addr(kHttp), "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "late");
  EXPECT_LT(r.first_byte_seconds, 0.2);
  EXPECT_GE(r.seconds, 0.38);
}

TEST_F(FaultServerTest, TrickledBodyIsPaced) {
  StartServer(R"([{"listener": "http", "body_bytes": 50, "trickle_bps": 200, "body": "ab"}])");
  HttpResult r = HttpGet(addr(kHttp), "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), 50u);
  EXPECT_EQ(r.body.substr(0, 6), "ababab");
  EXPECT_GE(r.seconds, 0.2);  // 50 bytes at 200 B/s: ~0.25 s
  EXPECT_LT(r.seconds, 2.0);
}

TEST_F(FaultServerTest, LargeBodyBytes) {
  StartServer(R"([{"listener": "http", "body_bytes": 3000000}])");
  HttpResult r = HttpGet(addr(kHttp), "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(absl::StrContains(r.head, "Content-Length: 3000000"));
  EXPECT_EQ(r.body.size(), 3000000u);
  EXPECT_EQ(r.body.substr(0, 6), "ok\nok\n");
}

TEST_F(FaultServerTest, EndlessBodyStreamsUntilTheClientLeaves) {
  StartServer(R"([{"listener": "http", "endless_body": true}])");
  auto fd = ConnectFrom("127.0.0.1", addr(kHttp));
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(SendAll(fd->get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ReadResult r = ReadAll(fd->get(), 2 * 1024 * 1024);
  EXPECT_GE(r.data.size(), 2u * 1024 * 1024);
  EXPECT_TRUE(absl::StrContains(r.data, "Transfer-Encoding: chunked"));
  fd->Reset();  // go away mid-body: the server notices and drops the stream
  EXPECT_TRUE(Eventually([&] { return server_->stats().Listener(kHttp, "client_gone") == 1; }));
  SetRules("[]");
  EXPECT_EQ(HttpGet(addr(kHttp), "/").status, 200);
}

TEST_F(FaultServerTest, ResetAfterRequest) {
  StartServer(R"([{"listener": "http", "reset": true}])");
  HttpResult r = HttpGet(addr(kHttp), "/");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.end, ReadEnd::kReset);
  EXPECT_EQ(server_->stats().Rule(0, "reset"), 1u);
}

TEST_F(FaultServerTest, ResetOnAcceptOnlyForOneSource) {
  StartServer(R"([{"listener": "http", "source": "127.0.0.2", "reset_on_accept": true}])");
  auto fd = ConnectFrom("127.0.0.2", addr(kHttp));
  ASSERT_TRUE(fd.ok());
  ReadResult r = ReadAll(fd->get());  // nothing sent: the RST comes by itself
  EXPECT_EQ(r.end, ReadEnd::kReset);
  EXPECT_EQ(HttpGet(addr(kHttp), "/", "127.0.0.3").status, 200);
}

TEST_F(FaultServerTest, CloseWithoutResponse) {
  StartServer(R"([{"listener": "http", "close": true}])");
  HttpResult r = HttpGet(addr(kHttp), "/");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.end, ReadEnd::kEof);
  EXPECT_TRUE(r.head.empty());
}

TEST_F(FaultServerTest, BlackholeNeverAnswers) {
  StartServer(R"([{"listener": "http", "path_prefix": "/hole", "blackhole": true}])");
  auto fd = ConnectFrom("127.0.0.1", addr(kHttp), std::chrono::milliseconds(300));
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(SendAll(fd->get(), "GET /hole HTTP/1.1\r\nHost: x\r\n\r\n"));
  ReadResult r = ReadAll(fd->get());
  EXPECT_EQ(r.end, ReadEnd::kTimeout);
  EXPECT_TRUE(r.data.empty());
  EXPECT_EQ(server_->stats().Rule(0, "blackhole"), 1u);
}

TEST_F(FaultServerTest, Redirect) {
  StartServer(R"([{"listener": "http", "path_prefix": "/old", "redirect": "/new"}])");
  HttpResult r = HttpGet(addr(kHttp), "/old");
  EXPECT_EQ(r.status, 302);
  EXPECT_TRUE(absl::StrContains(r.head, "Location: /new"));
}

TEST_F(FaultServerTest, KeepAlivePipeliningAndHead) {
  StartServer(R"([{"listener": "http", "path_prefix": "/a", "body": "AAA"}])");
  auto fd = ConnectFrom("127.0.0.1", addr(kHttp));
  ASSERT_TRUE(fd.ok());
  HttpResult r = HttpExchange(fd->get(),
                              "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string all = r.head + "\r\n\r\n" + r.body;
  // Three responses in order, the HEAD without a body, then close.
  size_t first = all.find("HTTP/1.1 200");
  size_t second = all.find("HTTP/1.1 200", first + 1);
  size_t third = all.find("HTTP/1.1 200", second + 1);
  ASSERT_NE(third, std::string::npos) << all;
  EXPECT_EQ(all.substr(second - 3, 3), "AAA");
  EXPECT_EQ(all.substr(all.size() - 3), "ok\n");
  EXPECT_EQ(r.end, ReadEnd::kEof);
  EXPECT_EQ(server_->stats().Listener(kHttp, "connections"), 1u);
  EXPECT_EQ(server_->stats().Listener(kHttp, "requests"), 3u);
}

TEST_F(FaultServerTest, MalformedAndOversizedRequestsAreAnsweredAndSurvived) {
  StartServer();
  auto bad = ConnectFrom("127.0.0.1", addr(kHttp));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(HttpExchange(bad->get(), "BLAH\r\n\r\n").status, 400);
  auto big = ConnectFrom("127.0.0.1", addr(kHttp));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(HttpExchange(big->get(), "GET / HTTP/1.1\r\nX: " + std::string(64 * 1024, 'a')).status,
            431);
  auto binary = ConnectFrom("127.0.0.1", addr(kHttp));
  ASSERT_TRUE(binary.ok());
  EXPECT_EQ(HttpExchange(binary->get(), std::string("\x16\x03\x01\x00\x00\r\n\r\n", 9)).status,
            400);
  EXPECT_EQ(server_->stats().Listener(kHttp, "bad_requests"), 3u);
  EXPECT_EQ(HttpGet(addr(kHttp), "/").status, 200);
}

TEST_F(FaultServerTest, IdleConnectionsAreClosed) {
  StartServer("", [](FaultServerOptions& o) { o.limits.idle_timeout = absl::Milliseconds(200); });
  auto fd = ConnectFrom("127.0.0.1", addr(kHttp));
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(SendAll(fd->get(), "GET / HTTP/1.1\r\n"));  // never finished
  ReadResult r = ReadAll(fd->get());
  EXPECT_EQ(r.end, ReadEnd::kEof);
  EXPECT_GE(r.seconds, 0.15);
  EXPECT_LT(r.seconds, 3.0);
  EXPECT_EQ(server_->stats().Listener(kHttp, "idle_timeouts"), 1u);
}

TEST_F(FaultServerTest, ConnectionCapClosesExtraConnections) {
  StartServer(R"([{"listener": "http", "blackhole": true}])",
              [](FaultServerOptions& o) { o.max_connections = 2; });
  auto a = ConnectFrom("127.0.0.1", addr(kHttp));
  auto b = ConnectFrom("127.0.0.1", addr(kHttp));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(Eventually([&] { return server_->stats().Listener(kHttp, "connections") == 2; }));
  auto c = ConnectFrom("127.0.0.1", addr(kHttp));
  ASSERT_TRUE(c.ok());
  ReadResult r = ReadAll(c->get());
  EXPECT_EQ(r.end, ReadEnd::kEof);
  EXPECT_EQ(server_->stats().Listener(kHttp, "rejected_over_cap"), 1u);
}

TEST_F(FaultServerTest, Ipv6Listener) {
  StartServer("", [](FaultServerOptions& o) { o.http_listen = "[::1]:0"; });
  HttpResult r = HttpGet(addr(kHttp), "/", "::1");
  EXPECT_EQ(r.status, 200);
}

TEST_F(FaultServerTest, TcpBannerRespondEchoAndPerSource) {
  StartServer(R"([
    {"listener": "tcp", "source": "127.0.0.2", "banner": "220 mail.test ESMTP\r\n",
     "respond": "250 ok\r\n"},
    {"listener": "tcp", "source": "127.0.0.3", "reset": true},
    {"listener": "tcp", "source": "127.0.0.4", "banner": "", "echo": true}])");
  const SocketAddress& tcp = addr(ListenerKind::kTcp);
  {
    auto fd = ConnectFrom("127.0.0.1", tcp, std::chrono::milliseconds(300));
    ASSERT_TRUE(fd.ok());
    char buf[64] = {0};
    ASSERT_GT(recv(fd->get(), buf, sizeof buf, 0), 0);
    EXPECT_STREQ(buf, "SSH-2.0-OpenSSH_9.2\r\n");
  }
  {
    auto fd = ConnectFrom("127.0.0.2", tcp);
    ASSERT_TRUE(fd.ok());
    char buf[64] = {0};
    ASSERT_GT(recv(fd->get(), buf, sizeof buf, 0), 0);
    EXPECT_STREQ(buf, "220 mail.test ESMTP\r\n");
    ASSERT_TRUE(SendAll(fd->get(), "EHLO probe\r\n"));
    char buf2[64] = {0};
    ASSERT_GT(recv(fd->get(), buf2, sizeof buf2, 0), 0);
    EXPECT_STREQ(buf2, "250 ok\r\n");
  }
  {
    auto fd = ConnectFrom("127.0.0.3", tcp);
    ASSERT_TRUE(fd.ok());
    EXPECT_EQ(ReadAll(fd->get()).end, ReadEnd::kReset);
  }
  {
    auto fd = ConnectFrom("127.0.0.4", tcp, std::chrono::milliseconds(500));
    ASSERT_TRUE(fd.ok());
    ASSERT_TRUE(SendAll(fd->get(), "hello\n"));
    char buf[64] = {0};
    ASSERT_GT(recv(fd->get(), buf, sizeof buf, 0), 0);
    EXPECT_STREQ(buf, "hello\n");  // no banner first
  }
  EXPECT_EQ(server_->stats().Rule(0, "responses"), 1u);
  EXPECT_EQ(server_->stats().Rule(1, "reset"), 1u);
}

TEST_F(FaultServerTest, TcpBannerDelayAndBlackhole) {
  StartServer(R"([
    {"listener": "tcp", "source": "127.0.0.2", "banner_delay_ms": 300},
    {"listener": "tcp", "source": "127.0.0.3", "blackhole": true}])");
  const SocketAddress& tcp = addr(ListenerKind::kTcp);
  auto slow = ConnectFrom("127.0.0.2", tcp);
  ASSERT_TRUE(slow.ok());
  auto start = std::chrono::steady_clock::now();
  char buf[64];
  ASSERT_GT(recv(slow->get(), buf, sizeof buf, 0), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(280));
  auto hole = ConnectFrom("127.0.0.3", tcp, std::chrono::milliseconds(300));
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(ReadAll(hole->get()).end, ReadEnd::kTimeout);
}

TEST_F(FaultServerTest, ControlEndpoint) {
  StartServer();
  const SocketAddress& ctl = addr(ListenerKind::kControl);
  HttpResult put =
      HttpRequestTo(ctl, "PUT", "/rules", R"([{"id": "x", "listener": "http", "status": 418}])");
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_TRUE(absl::StrContains(put.body, "\"rules\": 1"));
  EXPECT_EQ(HttpGet(addr(kHttp), "/").status, 418);
  HttpResult get = HttpGet(ctl, "/rules");
  EXPECT_EQ(get.status, 200);
  EXPECT_TRUE(absl::StrContains(get.body, "\"status\":418")) << get.body;
  HttpResult stats = HttpGet(ctl, "/stats");
  EXPECT_EQ(stats.status, 200);
  EXPECT_TRUE(absl::StrContains(stats.body, "\"status_418\": 1")) << stats.body;
  EXPECT_TRUE(absl::StrContains(stats.body, "\"id\": \"x\"")) << stats.body;
  HttpResult bad = HttpRequestTo(ctl, "PUT", "/rules", R"([{"listener": "http", "cert": 3}])");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(absl::StrContains(bad.body, "rules[0]")) << bad.body;
  EXPECT_EQ(HttpGet(addr(kHttp), "/").status,
            418);  // a bad PUT changes nothing
  EXPECT_EQ(HttpRequestTo(ctl, "POST", "/reset-stats", "").status, 200);
  EXPECT_EQ(server_->stats().Rule(0, "status_418"), 0u);
  HttpResult ports = HttpGet(ctl, "/ports");
  EXPECT_TRUE(absl::StrContains(ports.body, absl::StrCat("\"http\": ", server_->ports().http)));
  EXPECT_TRUE(absl::StartsWith(HttpGet(ctl, "/ca.pem").body, "-----BEGIN CERTIFICATE-----"));
  EXPECT_EQ(HttpGet(ctl, "/nope").status, 404);
  EXPECT_EQ(HttpRequestTo(ctl, "DELETE", "/rules", "").status, 405);
}

TEST_F(FaultServerTest, LargeRuleSetsFitInOneRequest) {
  StartServer();
  std::string rules = "[";
  for (int i = 0; i < 3000; ++i) {
    rules += absl::StrCat(i ? "," : "", R"({"listener": "http", "path_prefix": "/p)", i, "/",
                          R"(", "status": 201, "body": "rule )", i, R"("})");
  }
  rules += "]";
  ASSERT_GT(rules.size(), 200u * 1024);  // more than one read buffer's worth
  HttpResult put = HttpRequestTo(addr(ListenerKind::kControl), "PUT", "/rules", rules);
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(HttpGet(addr(kHttp), "/p2999/").body, "rule 2999");
}

TEST_F(FaultServerTest, ControlPutWithExpectContinue) {
  StartServer();
  auto fd = ConnectFrom("127.0.0.1", addr(ListenerKind::kControl));
  ASSERT_TRUE(fd.ok());
  std::string body = R"([{"listener": "http", "status": 201}])";
  ASSERT_TRUE(SendAll(
      fd->get(), absl::StrCat("PUT /rules HTTP/1.1\r\nHost: x\r\nContent-Length: ", body.size(),
                              "\r\nExpect: 100-continue\r\nConnection: close"
                              "\r\n\r\n")));
  char buf[128] = {0};
  ASSERT_GT(recv(fd->get(), buf, sizeof buf - 1, 0), 0);
  EXPECT_TRUE(absl::StartsWith(buf, "HTTP/1.1 100 Continue")) << buf;
  HttpResult r = HttpExchange(fd->get(), body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(HttpGet(addr(kHttp), "/").status, 201);
}

TEST_F(FaultServerTest, BlackholeListenerMakesConnectsTimeOut) {
  StartServer("", [](FaultServerOptions& o) { o.blackhole_listen = "127.0.0.1:0"; });
  ASSERT_NE(server_->ports().blackhole, 0);
  EXPECT_EQ(server_->stats().Listener(ListenerKind::kBlackhole, "queue_full_verified"), 1u);
  const SocketAddress& hole = addr(ListenerKind::kBlackhole);
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int rc = connect(fd.get(), hole.sa(), hole.len);
  ASSERT_TRUE(rc == 0 || errno == EINPROGRESS);
  pollfd p{fd.get(), POLLOUT, 0};
  EXPECT_EQ(poll(&p, 1, 300), 0) << "connect completed; expected it to hang";
}

}  // namespace
}  // namespace sonde::faultd::testing
