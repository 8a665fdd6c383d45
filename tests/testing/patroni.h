// PatroniCluster: PostgreSQL made highly available the way deploy/patroni
// documents it, on loopback for one test: three etcd members and two
// Patroni-managed PostgreSQL servers with synchronous_mode, each on free
// ports, everything in one scratch directory. PostgreSQL refuses to run as
// root: when the test runs as root (CI), etcd and Patroni run as the
// `postgres` system user (setpriv), as deploy/local-postgres.sh does for the
// other tests' servers.
//
// Patroni's timing is the test's, not production's (deploy/patroni uses
// ttl 30, loop_wait 10): ttl 10 s, loop_wait 1 s, retry_timeout 4 s, so a
// failover takes about 10 s instead of 30-40 s.
//
// Ownership: the cluster owns its etcd and Patroni processes; the
// destructor stops Patroni (which stops PostgreSQL), SIGKILLs what is left
// (PostgreSQL servers by their postmaster.pid) and etcd. Not thread-safe:
// one test thread owns it. Every wait has a deadline.
#ifndef SONDE_TESTS_TESTING_PATRONI_H_
#define SONDE_TESTS_TESTING_PATRONI_H_

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/testing/process.h"

namespace sonde::testing {

// Patroni's dynamic settings of the test cluster (bootstrap.dcs).
struct PatroniTiming {
  int ttl_s = 10;
  int loop_wait_s = 1;
  int retry_timeout_s = 4;
};

class PatroniCluster {
 public:
  static constexpr int kNodes = 2;
  static constexpr int kEtcdMembers = 3;
  using Timing = PatroniTiming;

  // Why this machine cannot run the cluster (no patroni, etcd or PostgreSQL
  // server binaries, or no `postgres` user to run them as when root), or ""
  // when it can. The caller skips with this message.
  static std::string Unavailable();

  PatroniCluster(std::string dir, Timing timing = {});
  ~PatroniCluster();
  PatroniCluster(const PatroniCluster&) = delete;
  PatroniCluster& operator=(const PatroniCluster&) = delete;

  // Starts the three etcd members, waits until each is healthy, starts
  // both Patroni nodes (one bootstraps, the other clones it), waits until
  // one is the primary and the other its synchronous standby, and creates
  // the database `sonde`. The error carries the logs' tails.
  absl::Status Start(std::chrono::seconds timeout);

  // The node Patroni's REST API names the primary (GET /primary is 200),
  // or -1 when none does.
  int Primary();
  // Whether `node` is the synchronous standby (GET /sync is 200).
  bool IsSyncStandby(int node);
  // A crash of `node`'s host: SIGKILL its Patroni, then its postmaster and
  // every child of it. Nothing is restarted.
  void KillNode(int node);

  // The collectors' connection string, as deploy/patroni/README.md gives
  // it: both servers, target_session_attrs=read-write, database `sonde`.
  std::string conninfo() const;
  const Timing& timing() const { return timing_; }
  // The tails of every etcd and Patroni log (PostgreSQL logs into its
  // Patroni's), for a failure message.
  std::string Logs() const;

 private:
  struct Node {
    std::string name, dir;
    int pg_port = 0, rest_port = 0;
    std::unique_ptr<Process> patroni;
  };
  struct Etcd {
    std::string name, dir;
    int client_port = 0, peer_port = 0;
    std::unique_ptr<Process> process;
  };

  absl::Status StartEtcd();
  absl::Status StartNodes(std::chrono::steady_clock::time_point deadline);
  absl::Status WriteNodeConfig(const Node& node) const;
  // `argv` run in `dir` as the cluster's user (see the header paragraph).
  std::unique_ptr<Process> Spawn(const std::vector<std::string>& argv, const std::string& dir,
                                 const std::string& log) const;
  // A directory the cluster's user owns (mode 0700).
  absl::Status OwnedDir(const std::string& path) const;
  int RestStatus(int node, const std::string& path) const;
  // The postmaster's pid of `node` while one runs, else -1.
  int PostmasterPid(const Node& node) const;

  std::string dir_;
  Timing timing_;
  std::string pg_bin_;
  std::array<Etcd, kEtcdMembers> etcd_;
  std::array<Node, kNodes> nodes_;
};

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_PATRONI_H_
