// The daemons' side of Type=notify units: each runs with NOTIFY_SOCKET
// pointing at a datagram socket this test reads, and must say READY=1 only
// once ready (collector: schema migrated and gRPC listening; prober: config
// loaded), WATCHDOG=1 at half of WATCHDOG_USEC, and STOPPING=1 on SIGTERM
// before exiting 0.
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/process.h"

namespace sonde {
namespace {

using ::sonde::testing::BinPath;
using ::sonde::testing::FreePort;
using ::sonde::testing::Process;

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

// The notification socket a service manager would own.
class NotifySocket {
 public:
  NotifySocket() {
    char tmpl[] = "/tmp/sonde-notify-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/notify";
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }

  // Waits up to `timeout` for a datagram containing `line` (a line of the
  // message); returns whether one came. Other messages are kept in seen().
  bool WaitFor(const std::string& line, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      timeval tv{static_cast<time_t>(left.count() / 1000),
                 static_cast<suseconds_t>(left.count() % 1000 * 1000)};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        continue;
      }
      std::string msg(buf, static_cast<size_t>(n));
      seen_.push_back(msg);
      if (("\n" + msg + "\n").find("\n" + line + "\n") != std::string::npos) {
        return true;
      }
    }
    return false;
  }
  const std::vector<std::string>& seen() const { return seen_; }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> seen_;
};

// Children inherit these: the socket, and a 1 s watchdog (pings every 0.5 s).
void ServiceManagerEnvironment(const NotifySocket& sock) {
  setenv("NOTIFY_SOCKET", sock.path().c_str(), 1);
  setenv("WATCHDOG_USEC", "1000000", 1);
  unsetenv("WATCHDOG_PID");
}

int SchemaVersion(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  PGresult* r = PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  int v = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
  PQclear(r);
  PQfinish(c);
  return v;
}

TEST(SystemdNotifyTest, CollectorReadyAfterMigratingAndListeningThenWatchdogThenStopping) {
  const std::string conninfo = sonde::testing::PostgresEnvironment::conninfo();
  ASSERT_FALSE(conninfo.empty());
  NotifySocket sock;
  ASSERT_TRUE(sock.bound());
  ServiceManagerEnvironment(sock);
  const int port = FreePort();
  Process collector({BinPath("sonde-collector"), "--insecure", "--listen",
                     "127.0.0.1:" + std::to_string(port), "--postgres", conninfo},
                    ::testing::TempDir() + "/notify-collector.log");
  ASSERT_TRUE(sock.WaitFor("READY=1", std::chrono::seconds(60))) << collector.Log();
  // Ready means ready: the port answers and the schema is there, right now.
  EXPECT_TRUE(sonde::testing::WaitForPort(port, std::chrono::milliseconds(100)));
  EXPECT_GT(SchemaVersion(conninfo), 0);
  EXPECT_TRUE(sock.WaitFor("WATCHDOG=1", std::chrono::seconds(5)));
  EXPECT_TRUE(sock.WaitFor("WATCHDOG=1", std::chrono::seconds(5)));
  collector.Signal(SIGTERM);
  EXPECT_TRUE(sock.WaitFor("STOPPING=1", std::chrono::seconds(10)));
  EXPECT_EQ(collector.Wait(std::chrono::seconds(15)), 0) << collector.Log();
}

TEST(SystemdNotifyTest, ProberReadyWithConfigLoadedThenWatchdogThenStopping) {
  NotifySocket sock;
  ASSERT_TRUE(sock.bound());
  const std::string config = ::testing::TempDir() + "/notify-prober.yaml";
  {
    std::ofstream out(config);
    out << "regions: [fra]\n"
           "checks:\n"
           "  - name: closed-port\n"
           "    service: test\n"
           "    interval: 30s\n"
           "    tcp: {host: 127.0.0.1, port: "
        << FreePort() << "}\n";
  }
  ServiceManagerEnvironment(sock);
  // No collector listens there: the prober is ready anyway (it spools).
  Process prober({BinPath("sonde-prober"), "--region", "fra", "--collector",
                  "127.0.0.1:" + std::to_string(FreePort()), "--config", config},
                 ::testing::TempDir() + "/notify-prober.log");
  ASSERT_TRUE(sock.WaitFor("READY=1", std::chrono::seconds(30))) << prober.Log();
  EXPECT_TRUE(sock.WaitFor("WATCHDOG=1", std::chrono::seconds(5)));
  EXPECT_TRUE(sock.WaitFor("WATCHDOG=1", std::chrono::seconds(5)));
  prober.Signal(SIGTERM);
  EXPECT_TRUE(sock.WaitFor("STOPPING=1", std::chrono::seconds(10)));
  EXPECT_EQ(prober.Wait(std::chrono::seconds(15)), 0) << prober.Log();
}

TEST(SystemdNotifyTest, ProberWithABadConfigNeverSaysReady) {
  NotifySocket sock;
  ASSERT_TRUE(sock.bound());
  const std::string config = ::testing::TempDir() + "/notify-bad.yaml";
  std::ofstream(config) << "checks: [{name: x, tcp: {host: h, port: 0}}]\n";
  ServiceManagerEnvironment(sock);
  Process prober({BinPath("sonde-prober"), "--region", "fra", "--collector", "127.0.0.1:1",
                  "--config", config},
                 ::testing::TempDir() + "/notify-bad.log");
  EXPECT_EQ(prober.Wait(std::chrono::seconds(15)), 2) << prober.Log();
  EXPECT_FALSE(sock.WaitFor("READY=1", std::chrono::milliseconds(200)));
}

}  // namespace
}  // namespace sonde
