#include "prober/io/connector.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/event_loop.h"
#include "prober/io/dns_resolver.h"
#include "tests/testing/process.h"

namespace sonde::prober {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1 (connections wait in its backlog).
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(listen(fd_, 64), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) {
    ++n;
  }
  closedir(d);
  return n;
}

// One loop with what a Connector needs.
struct Env {
  Env() {
    EXPECT_TRUE(loop.Init().ok());
    auto r = DnsResolver::Create(&loop, "");
    EXPECT_TRUE(r.ok()) << r.status();
    resolver = *std::move(r);
    env = ProbeEnv{&loop, resolver.get(), nullptr, ""};
  }
  // Runs the loop until `done()` or 10 s.
  void RunUntil(const std::function<bool()>& done) {
    for (auto limit = loop.Now() + 10s; !done() && loop.Now() < limit;) {
      auto check = loop.RunAfter(5ms, [this] { loop.Stop(); });
      loop.Run();
      loop.Cancel(check);
    }
  }
  common::EventLoop loop;
  std::unique_ptr<DnsResolver> resolver;
  ProbeEnv env;
};

// A Connector destroyed (or cancelled) before its connect finished neither
// calls back (it never calls back from inside Connect, so before the loop
// ran is such a time) nor leaves a socket open; the others still connect.
TEST(ConnectorTest, ACancelledConnectNeitherCallsBackNorLeaksItsSocket) {
  Listener listener;
  Env e;
  const int fds_before = OpenFds();
  int called_back = 0;
  std::vector<std::optional<Connection>> got(3);
  {
    std::vector<std::unique_ptr<Connector>> connectors;
    for (int i = 0; i < 3; ++i) {
      connectors.push_back(std::make_unique<Connector>(&e.env));
      connectors[i]->Connect("127.0.0.1", listener.port(), "", e.loop.Now() + 2s,
                             /*connect_only=*/false, [&, i](Connection c) {
                               ++called_back;
                               got[i] = std::move(c);
                             });
    }
    connectors[0].reset();  // destroyed with its connect queued
    connectors[2]->Cancel();
    bool waited = false;  // for a late callback of the cancelled ones
    auto stop = e.loop.RunAfter(200ms, [&] { waited = true; });
    e.RunUntil([&] { return waited; });
    e.loop.Cancel(stop);
    EXPECT_EQ(called_back, 1);
    ASSERT_TRUE(got[1].has_value());
    EXPECT_EQ(got[1]->failure_class, v1::FailureClass::OK) << got[1]->detail;
    EXPECT_GE(got[1]->fd, 0);
    EXPECT_FALSE(got[0].has_value());
    EXPECT_FALSE(got[2].has_value());
    close(got[1]->fd);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

// A loop destroyed while connects were under way on it (a test's loop)
// leaves nothing behind that the next loop of the same thread trips on:
// its connectors still connect and call back.
TEST(ConnectorTest, ConnectsOnANewLoopAfterALoopDiedWithConnectsQueued) {
  Listener listener;
  for (int round = 0; round < 3; ++round) {
    auto dying = std::make_unique<Env>();
    auto orphan = std::make_unique<Connector>(&dying->env);
    orphan->Connect("127.0.0.1", listener.port(), "", dying->loop.Now() + 2s,
                    /*connect_only=*/true, [](Connection) { ADD_FAILURE() << "called back"; });
    orphan.reset();
    dying.reset();  // never ran: what it had queued goes with it

    auto e = std::make_unique<Env>();  // most often where the dead one was
    Connector c(&e->env);
    bool done = false;
    Connection got;
    c.Connect("127.0.0.1", listener.port(), "", e->loop.Now() + 2s, /*connect_only=*/true,
              [&](Connection conn) {
                got = std::move(conn);
                done = true;
              });
    e->RunUntil([&] { return done; });
    ASSERT_TRUE(done) << "round " << round << ": the connect never ran";
    EXPECT_EQ(got.failure_class, v1::FailureClass::OK) << got.detail;
    EXPECT_EQ(got.fd, -1);  // connect_only: closed by the Connector
  }
}

// Many connectors in one iteration: each calls back once, with its own
// outcome (a refused port among listening ones).
TEST(ConnectorTest, EveryConnectOfABatchCallsBackOnceWithItsOwnOutcome) {
  Listener listener;
  const int refused_port = sonde::testing::FreePort();  // nothing listens there
  Env e;
  constexpr int kRuns = 40;
  std::vector<std::unique_ptr<Connector>> connectors;
  std::vector<int> calls(kRuns, 0);
  std::vector<v1::FailureClass::Code> classes(kRuns);
  int left = kRuns;
  for (int i = 0; i < kRuns; ++i) {
    connectors.push_back(std::make_unique<Connector>(&e.env));
    const int port = i % 4 == 3 ? refused_port : listener.port();
    connectors[i]->Connect("127.0.0.1", port, "", e.loop.Now() + 2s, /*connect_only=*/true,
                           [&, i](Connection c) {
                             ++calls[i];
                             classes[i] = c.failure_class;
                             --left;
                           });
  }
  e.RunUntil([&] { return left == 0; });
  for (int i = 0; i < kRuns; ++i) {
    EXPECT_EQ(calls[i], 1) << i;
    EXPECT_EQ(classes[i], i % 4 == 3 ? v1::FailureClass::TCP_REFUSED : v1::FailureClass::OK) << i;
  }
}

}  // namespace
}  // namespace sonde::prober
