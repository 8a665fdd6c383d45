#include "tests/testing/patroni.h"

#include <httplib.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/testing/cluster.h"

namespace sonde::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr char kOwner[] = "postgres";  // who runs etcd and Patroni when we are root
constexpr char kSetpriv[] = "/usr/bin/setpriv";

bool IsRoot() { return geteuid() == 0; }

bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// `name` on $PATH, or "".
std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (Executable(candidate)) {
      return candidate;
    }
  }
  return "";
}

// The newest installed PostgreSQL's bin directory (as local-postgres.sh
// picks it), or "".
std::string PostgresBin() {
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    int version = 0;
    const std::string bin = e.path().string() + "/bin";
    if (absl::SimpleAtoi(e.path().filename().string(), &version) && version > best_version &&
        Executable(bin + "/initdb") && Executable(bin + "/postgres")) {
      best = bin;
      best_version = version;
    }
  }
  return best;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The processes whose parent is `parent` (from /proc).
std::vector<int> ChildrenOf(int parent) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e.path().filename().string(), &pid)) {
      continue;
    }
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces.
    const std::string stat = Read(e.path().string() + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
    int ppid = 0;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid) && ppid == parent) {
      out.push_back(pid);
    }
  }
  return out;
}

void KillTree(int pid) {
  std::vector<int> children = ChildrenOf(pid);
  kill(pid, SIGKILL);
  for (int child : children) {
    kill(child, SIGKILL);
  }
}

int HttpStatus(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(2, 0);
  httplib::Result res = client.Get(path);
  return res ? res->status : -1;
}

}  // namespace

std::string PatroniCluster::Unavailable() {
  std::vector<std::string> missing;
  for (const char* tool : {"patroni", "etcd"}) {
    if (FindInPath(tool).empty()) {
      missing.push_back(tool);
    }
  }
  if (PostgresBin().empty()) {
    missing.push_back("PostgreSQL server binaries (/usr/lib/postgresql/*/bin)");
  }
  if (!missing.empty()) {
    return absl::StrCat("Patroni test skipped: not installed: ", absl::StrJoin(missing, ", "),
                        " (deploy/install-deps.sh installs patroni, etcd-server, etcd-client)");
  }
  if (IsRoot() && (getpwnam(kOwner) == nullptr || !Executable(kSetpriv))) {
    return absl::StrCat("Patroni test skipped: running as root, PostgreSQL must run as user ",
                        kOwner, " (missing, or no ", kSetpriv, ")");
  }
  std::string output;
  if (RunCommand({FindInPath("patroni"), "--version"}, &output, seconds(30)) != 0) {
    return absl::StrCat("Patroni test skipped: `patroni --version` fails: ", Tail(output, 600));
  }
  return "";
}

PatroniCluster::PatroniCluster(std::string dir, Timing timing)
    : dir_(std::move(dir)), timing_(timing), pg_bin_(PostgresBin()) {
  for (int i = 0; i < kEtcdMembers; ++i) {
    etcd_[i].name = absl::StrCat("etcd", i + 1);
    etcd_[i].dir = absl::StrCat(dir_, "/", etcd_[i].name);
    etcd_[i].client_port = FreePort();
    etcd_[i].peer_port = FreePort();
  }
  for (int i = 0; i < kNodes; ++i) {
    nodes_[i].name = absl::StrCat("pg", i + 1);
    nodes_[i].dir = absl::StrCat(dir_, "/", nodes_[i].name);
    nodes_[i].pg_port = FreePort();
    nodes_[i].rest_port = FreePort();
  }
}

PatroniCluster::~PatroniCluster() {
  // Patroni stops its PostgreSQL on SIGTERM; whatever is left is killed.
  for (Node& n : nodes_) {
    if (n.patroni != nullptr) {
      n.patroni->Signal(SIGTERM);
    }
  }
  for (Node& n : nodes_) {
    if (n.patroni != nullptr && !n.patroni->Wait(seconds(20)).has_value()) {
      n.patroni->Signal(SIGKILL);
      n.patroni->Wait(seconds(5));
    }
    if (int pm = PostmasterPid(n); pm > 0) {
      KillTree(pm);
    }
  }
  for (Etcd& e : etcd_) {
    e.process.reset();  // SIGKILL
  }
}

absl::Status PatroniCluster::OwnedDir(const std::string& path) const {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("mkdir ", path, ": ", ec.message()));
  }
  if (IsRoot()) {
    const passwd* pw = getpwnam(kOwner);
    if (pw == nullptr || chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("cannot chown ", path, " to ", kOwner));
    }
  }
  chmod(path.c_str(), 0700);
  return absl::OkStatus();
}

std::unique_ptr<Process> PatroniCluster::Spawn(const std::vector<std::string>& argv,
                                               const std::string& dir,
                                               const std::string& log) const {
  // env and setpriv exec the next program, so the Process's pid is the
  // daemon's own: a signal reaches it, not a wrapper.
  std::vector<std::string> full = {"/usr/bin/env", "-C", dir, absl::StrCat("HOME=", dir)};
  if (IsRoot()) {
    full.insert(full.end(), {kSetpriv, absl::StrCat("--reuid=", kOwner),
                             absl::StrCat("--regid=", kOwner), "--init-groups", "--"});
  }
  full.insert(full.end(), argv.begin(), argv.end());
  return std::make_unique<Process>(std::move(full), log);
}

absl::Status PatroniCluster::Start(seconds timeout) {
  const steady_clock::time_point deadline = steady_clock::now() + timeout;
  if (absl::Status st = StartEtcd(); !st.ok()) {
    return st;
  }
  // All three members answer /health only once they have a leader.
  bool healthy = WaitUntil(
      [&] {
        for (const Etcd& e : etcd_) {
          if (HttpStatus(e.client_port, "/health") != 200) {
            return false;
          }
        }
        return true;
      },
      std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()));
  if (!healthy) {
    return absl::DeadlineExceededError(absl::StrCat("etcd did not become healthy\n", Logs()));
  }
  if (absl::Status st = StartNodes(deadline); !st.ok()) {
    return st;
  }
  const int primary = Primary();
  const std::string admin =
      absl::StrCat("host=127.0.0.1 port=", nodes_[primary].pg_port, " user=sonde dbname=postgres");
  PGconn* conn = PQconnectdb(admin.c_str());
  PGresult* res = PQexec(conn, "CREATE DATABASE sonde");
  const bool created = PQresultStatus(res) == PGRES_COMMAND_OK;
  const std::string error = PQerrorMessage(conn);
  PQclear(res);
  PQfinish(conn);
  if (!created) {
    return absl::InternalError(absl::StrCat("CREATE DATABASE sonde: ", error));
  }
  return absl::OkStatus();
}

absl::Status PatroniCluster::StartEtcd() {
  const std::string etcd = FindInPath("etcd");
  std::vector<std::string> peers;
  for (const Etcd& e : etcd_) {
    peers.push_back(absl::StrCat(e.name, "=http://127.0.0.1:", e.peer_port));
  }
  for (Etcd& e : etcd_) {
    if (absl::Status st = OwnedDir(e.dir); !st.ok()) {
      return st;
    }
    const std::string client = absl::StrCat("http://127.0.0.1:", e.client_port);
    const std::string peer = absl::StrCat("http://127.0.0.1:", e.peer_port);
    e.process = Spawn({etcd,
                       "--name",
                       e.name,
                       "--data-dir",
                       e.dir + "/data",
                       "--listen-client-urls",
                       client,
                       "--advertise-client-urls",
                       client,
                       "--listen-peer-urls",
                       peer,
                       "--initial-advertise-peer-urls",
                       peer,
                       "--initial-cluster",
                       absl::StrJoin(peers, ","),
                       "--initial-cluster-state",
                       "new",
                       "--initial-cluster-token",
                       dir_,
                       "--logger",
                       "zap",
                       "--log-level",
                       "warn"},
                      e.dir, absl::StrCat(dir_, "/", e.name, ".log"));
  }
  return absl::OkStatus();
}

absl::Status PatroniCluster::WriteNodeConfig(const Node& n) const {
  std::vector<std::string> hosts;
  for (const Etcd& e : etcd_) {
    hosts.push_back(absl::StrCat("127.0.0.1:", e.client_port));
  }
  // deploy/patroni/pg1.yml on loopback, with the test's timing and trust
  // authentication (loopback only).
  const std::string yaml = absl::StrCat(R"(scope: sonde-test
namespace: /service/
name: )",
                                        n.name, R"(
restapi:
  listen: 127.0.0.1:)",
                                        n.rest_port, R"(
  connect_address: 127.0.0.1:)",
                                        n.rest_port, R"(
etcd3:
  hosts: )",
                                        absl::StrJoin(hosts, ","), R"(
bootstrap:
  dcs:
    ttl: )",
                                        timing_.ttl_s, R"(
    loop_wait: )",
                                        timing_.loop_wait_s, R"(
    retry_timeout: )",
                                        timing_.retry_timeout_s, R"(
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 5
        max_replication_slots: 5
        synchronous_commit: "on"
  initdb:
    - encoding: UTF8
    - locale: C
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:)",
                                        n.pg_port, R"(
  connect_address: 127.0.0.1:)",
                                        n.pg_port, R"(
  data_dir: )",
                                        n.dir, R"(/data
  bin_dir: )",
                                        pg_bin_, R"(
  pgpass: )",
                                        n.dir, R"(/pgpass
  authentication:
    superuser: {username: sonde, password: sonde}
    replication: {username: replicator, password: replicator}
  parameters:
    unix_socket_directories: )",
                                        n.dir, R"(
)");
  const std::string path = n.dir + "/patroni.yml";
  std::ofstream out(path);
  out << yaml;
  out.close();
  if (!out) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  chmod(path.c_str(), 0644);
  return absl::OkStatus();
}

absl::Status PatroniCluster::StartNodes(steady_clock::time_point deadline) {
  const std::string patroni = FindInPath("patroni");
  for (Node& n : nodes_) {
    if (absl::Status st = OwnedDir(n.dir); !st.ok()) {
      return st;
    }
    if (absl::Status st = WriteNodeConfig(n); !st.ok()) {
      return st;
    }
    // Both at once: one wins the initialize key and bootstraps, the other
    // waits for it and clones it (pg_basebackup).
    n.patroni =
        Spawn({patroni, n.dir + "/patroni.yml"}, n.dir, absl::StrCat(dir_, "/", n.name, ".log"));
  }
  while (steady_clock::now() < deadline) {
    for (Node& n : nodes_) {
      if (!n.patroni->running()) {
        return absl::UnavailableError(absl::StrCat("Patroni ", n.name, " exited\n", Logs()));
      }
    }
    const int primary = Primary();
    if (primary >= 0 && IsSyncStandby(1 - primary)) {
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no primary with a synchronous standby in time\n", Logs()));
}

int PatroniCluster::RestStatus(int node, const std::string& path) const {
  return HttpStatus(nodes_[node].rest_port, path);
}

int PatroniCluster::Primary() {
  for (int i = 0; i < kNodes; ++i) {
    if (RestStatus(i, "/primary") == 200) {
      return i;
    }
  }
  return -1;
}

bool PatroniCluster::IsSyncStandby(int node) { return RestStatus(node, "/sync") == 200; }

int PatroniCluster::PostmasterPid(const Node& n) const {
  int pid = 0;
  const std::string text = Read(n.dir + "/data/postmaster.pid");
  if (!absl::SimpleAtoi(text.substr(0, text.find('\n')), &pid) || pid <= 0) {
    return -1;
  }
  // A stale file may name a pid reused since: it must be this node's server.
  const std::string cmdline = Read(absl::StrCat("/proc/", pid, "/cmdline"));
  return cmdline.find(n.dir + "/data") != std::string::npos ? pid : -1;
}

void PatroniCluster::KillNode(int node) {
  Node& n = nodes_[node];
  const int pm = PostmasterPid(n);
  if (n.patroni != nullptr) {
    n.patroni->Signal(SIGKILL);
  }
  if (pm > 0) {
    KillTree(pm);
  }
  if (n.patroni != nullptr) {
    n.patroni->Wait(seconds(5));
  }
}

std::string PatroniCluster::conninfo() const {
  return absl::StrCat("host=127.0.0.1,127.0.0.1 port=", nodes_[0].pg_port, ",", nodes_[1].pg_port,
                      " user=sonde dbname=sonde target_session_attrs=read-write");
}

std::string PatroniCluster::Logs() const {
  std::string out;
  for (const Etcd& e : etcd_) {
    absl::StrAppend(&out, "--- ", e.name, " ---\n",
                    Tail(Read(absl::StrCat(dir_, "/", e.name, ".log")), 1500), "\n");
  }
  for (const Node& n : nodes_) {
    absl::StrAppend(&out, "--- ", n.name, " (Patroni and PostgreSQL) ---\n",
                    Tail(Read(absl::StrCat(dir_, "/", n.name, ".log")), 3000), "\n");
  }
  return out;
}

}  // namespace sonde::testing
