// HttpServer's bounds on loopback with raw sockets: a body announced over
// the cap is refused unread (413), a chunked one is cut at the cap, a silent
// client and a trickling one are disconnected by their deadlines, a full
// queue answers 503 at once, and normal requests still work. Small limits
// keep it fast; the shipped defaults are exercised by tests/hostile/http.
#include "common/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/process.h"

namespace sonde::common {
namespace {

using sonde::testing::ConnectLoopback;

// Everything the server sends until it closes or `timeout` passes.
std::string ReadAll(int fd, absl::Duration timeout) {
  std::string out;
  const absl::Time until = absl::Now() + timeout;
  char buf[4096];
  while (absl::Now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) {
      continue;
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// True when the peer has closed (EOF or reset) within `timeout`.
bool ClosedWithin(int fd, absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  char c;
  while (absl::Now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0) {
      return true;
    }
  }
  return false;
}

void Send(int fd, const std::string& s) { send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerLimits limits) {
    server_ = std::make_unique<HttpServer>(limits);
    server_->routes().Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hi\n", "text/plain");
    });
    server_->routes().Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.body.size()), "text/plain");
    });
    ASSERT_TRUE(server_->Start("127.0.0.1:0", "test").ok());
  }
  int Get() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(5);
    auto res = c.Get("/hello");
    return res ? res->status : -1;
  }
  std::unique_ptr<HttpServer> server_;
};

HttpServerLimits Small() {
  HttpServerLimits l;
  l.max_body_bytes = 1024;
  l.read_timeout = absl::Milliseconds(500);
  l.request_timeout = absl::Milliseconds(1500);
  l.threads = 2;
  l.queued_connections = 2;
  return l;
}

TEST_F(HttpServerTest, BodiesOverTheCapAre413) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Small()));
  httplib::Client c("127.0.0.1", server_->port());
  auto res = c.Post("/echo", std::string(1000, 'x'), "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "1000");

  // Announced 2 GB: answered before the body is sent.
  int fd = ConnectLoopback(server_->port());
  Send(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n\r\n");
  EXPECT_NE(ReadAll(fd, absl::Seconds(3)).find("HTTP/1.1 413"), std::string::npos);
  close(fd);

  // Chunked, unannounced: cut at the cap.
  fd = ConnectLoopback(server_->port());
  Send(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 8; ++i) {
    Send(fd, absl::StrCat("200\r\n", std::string(512, 'y'), "\r\n"));
  }
  std::string chunked = ReadAll(fd, absl::Seconds(3));
  EXPECT_NE(chunked.find("HTTP/1.1 413"), std::string::npos) << chunked;
  close(fd);

  // Headers over their cap: 431.
  fd = ConnectLoopback(server_->port());
  std::string headers = "GET /hello HTTP/1.1\r\n";
  for (int i = 0; i < 40; ++i) {
    absl::StrAppend(&headers, "X-H", i, ": ", std::string(1000, 'h'), "\r\n");
  }
  Send(fd, headers + "\r\n");
  EXPECT_NE(ReadAll(fd, absl::Seconds(3)).find("HTTP/1.1 431"), std::string::npos);
  close(fd);
  EXPECT_EQ(server_->stats().requests_too_large.load(), 3);
  EXPECT_EQ(Get(), 200);
}

TEST_F(HttpServerTest, SilentAndTricklingClientsAreCutOff) {
  ASSERT_NO_FATAL_FAILURE(StartServer(Small()));
  // Silent after part of the headers: the read timeout.
  int silent = ConnectLoopback(server_->port());
  Send(silent, "GET /hello HTTP/1.1\r\n");
  // One byte every 200 ms never trips the read timeout, only the request
  // deadline.
  int trickle = ConnectLoopback(server_->port());
  const absl::Time start = absl::Now();
  bool closed = false;
  const std::string request =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n" + std::string(900, 'z');
  for (size_t i = 0; i < request.size() && !closed; ++i) {
    Send(trickle, request.substr(i, 1));
    closed = ClosedWithin(trickle, absl::Milliseconds(200));
  }
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(closed);
  EXPECT_GE(took, absl::Milliseconds(1200));
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_TRUE(ClosedWithin(silent, absl::Seconds(1)));
  close(silent);
  close(trickle);
  EXPECT_GE(server_->stats().connections_timed_out.load(), 2);
  EXPECT_EQ(Get(), 200);
}

TEST_F(HttpServerTest, AFullQueueIsRefusedNotQueued) {
  HttpServerLimits l = Small();
  l.read_timeout = absl::Seconds(3);
  ASSERT_NO_FATAL_FAILURE(StartServer(l));
  // 2 served + 2 queued; the rest are refused at once (up to 2 more when
  // the accept thread outruns the workers taking their first jobs).
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(ConnectLoopback(server_->port()));
  }
  int refused = 0;
  for (int fd : idle) {
    if (ReadAll(fd, absl::Milliseconds(300)).find("HTTP/1.1 503") != std::string::npos) {
      ++refused;
    }
  }
  EXPECT_GE(refused, 4);
  EXPECT_LE(refused, 6);
  EXPECT_EQ(server_->stats().connections_refused.load(), refused);
  for (int fd : idle) {
    close(fd);
  }
  // The workers notice the closed connections on their next read; once they
  // do, a new client is served again (within the read timeout at most).
  int status = 0;
  const absl::Time until = absl::Now() + absl::Seconds(5);
  while ((status = Get()) != 200 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace sonde::common
