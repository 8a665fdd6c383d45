// Cluster parts for process-level tests: a private PostgreSQL that can be
// stopped and started again on the same port, sonde-faultd, sonde-collector
// and sonde-prober as child processes, libpq queries, a Sonde config
// builder, and a look into a prober's spool directory. The reliability tests
// (issue 4) use them; the scenario suite is meant to.
//
// Ownership: each class owns its child process (a Process) and SIGKILLs it
// in its destructor when it still runs; Postgres destroys its cluster.
// Logs of every run of a process are appended to one file, so a failing
// test can print them. Every wait has a deadline. Not thread-safe: one test
// thread owns these objects.
#ifndef SONDE_TESTS_TESTING_CLUSTER_H_
#define SONDE_TESTS_TESTING_CLUSTER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/process.h"

typedef struct pg_conn PGconn;

namespace sonde::testing {

// Now as microseconds since the epoch: the clock a prober run's first
// result seq and batch_seq are taken from.
int64_t NowMicros();

// Calls `done` every `poll` until it returns true (then true) or `timeout`
// has passed (then false).
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds poll = std::chrono::milliseconds(200));

// The last `max_bytes` of a text, for failure messages.
std::string Tail(const std::string& text, size_t max_bytes = 4000);

// A directory /tmp/sonde-<name>.XXXXXX, world-traversable (PostgreSQL runs
// as another user when tests run as root). Removed by the destructor unless
// Keep() was called (a failed test keeps its logs) or the environment says
// SONDE_KEEP_TEST_DIRS=1.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Path(const std::string& relative) const { return path_ + "/" + relative; }
  void Keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

// A PostgreSQL cluster made by deploy/local-postgres.sh ($SONDE_SOURCE_DIR).
// The first Start() picks a free port; later ones reuse it, so clients
// reconnect to the same address after Stop() + Start().
class Postgres {
 public:
  explicit Postgres(std::string data_dir);
  ~Postgres();  // destroys the cluster
  Postgres(const Postgres&) = delete;
  Postgres& operator=(const Postgres&) = delete;

  absl::Status Start();
  // Fast shutdown: sessions are terminated, the server is gone when it returns.
  absl::Status Stop();
  int port() const { return port_; }
  std::string conninfo() const;

 private:
  std::string data_dir_;
  int port_ = 0;
  bool created_ = false;
};

// libpq queries for assertions. Connects lazily and reconnects after a
// failure, so it survives a PostgreSQL restart.
class Db {
 public:
  explicit Db(std::string conninfo);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  using Rows = std::vector<std::vector<std::string>>;
  // Every row of `sql`, fields as text ("" for NULL).
  absl::StatusOr<Rows> Query(const std::string& sql);
  // The one value of a one-row, one-column integer query (NULL reads as 0).
  absl::StatusOr<int64_t> Int(const std::string& sql);

 private:
  std::string conninfo_;
  PGconn* conn_ = nullptr;
};

// A Prometheus text page as name -> value (labels ignored, samples summed).
using MetricValues = std::map<std::string, double>;
// GET http://127.0.0.1:port/metrics, with `Authorization: Bearer <token>`
// unless `token` is empty (a daemon with tokens wants a read-scope one).
absl::StatusOr<MetricValues> ScrapeMetrics(int port, const std::string& token = "");

// Flags a Sonde binary needs to talk plaintext gRPC on loopback:
// {"--insecure"} when its --help lists that flag, else none. Cached.
std::vector<std::string> PlaintextFlags(const std::string& binary);

// Runs the built `sondectl ARGS --collector ADDRESS` (plaintext on
// loopback) to completion; returns its output (stdout and stderr) and sets
// *rc to its exit status.
std::string RunSondectl(const std::string& collector_address, const std::vector<std::string>& args,
                        int* rc);

// Starts sonde-faultd with `argv` (which passes --ports-file `ports_file`)
// into *process, logging to `log_path`, and waits (20 s) for its ports:
// listener name -> port.
absl::StatusOr<std::map<std::string, int>> LaunchFaultd(const std::vector<std::string>& argv,
                                                        const std::string& ports_file,
                                                        const std::string& log_path,
                                                        std::unique_ptr<Process>* process);

// sonde-faultd with http, tcp and control listeners on 127.0.0.1:0.
class Faultd {
 public:
  explicit Faultd(std::string dir);
  absl::Status Start(const std::string& rules_json = "");
  int http_port() const { return http_port_; }
  int tcp_port() const { return tcp_port_; }
  int control_port() const { return control_port_; }
  std::string Log() const;

 private:
  std::string dir_;
  std::unique_ptr<Process> process_;
  int http_port_ = 0, tcp_port_ = 0, control_port_ = 0;
};

// sonde-collector on 127.0.0.1. The first Start() picks a free port; a
// restart after Kill()/Stop() listens on the same one, as a restarted
// daemon would.
class Collector {
 public:
  struct Options {
    std::string conninfo;
    std::string config_path;  // "" = no --config
    std::vector<std::string> extra_args;
  };
  Collector(std::string log_path, Options options);
  ~Collector();

  // Starts the process and waits (up to 60 s) until it accepts gRPC
  // connections, i.e. its schema is migrated.
  absl::Status Start();
  void Kill();                                                 // SIGKILL, reaped
  std::optional<int> Stop(std::chrono::milliseconds timeout);  // SIGTERM
  void Reload();                                               // SIGHUP
  // Any other signal, e.g. SIGSTOP / SIGCONT (a paused replica).
  void Signal(int sig);
  bool running();
  std::string address() const;
  std::string Log() const;
  // Its /metrics page (--metrics-listen on a port picked at the first Start);
  // with --tokens, `token` is a read-scope one.
  absl::StatusOr<MetricValues> Metrics(const std::string& token = "") const {
    return ScrapeMetrics(metrics_port_, token);
  }
  // The running process's id (-1 before Start).
  int pid() const { return process_ != nullptr ? process_->pid() : -1; }
  // The --metrics-listen port on 127.0.0.1 (0 before the first Start).
  int metrics_port() const { return metrics_port_; }

 private:
  std::string log_path_;
  Options options_;
  int port_ = 0;
  int metrics_port_ = 0;
  std::unique_ptr<Process> process_;
};

// sonde-prober as a daemon.
class Prober {
 public:
  struct Options {
    std::string id;
    std::string region;
    std::string source_address;  // "" = none
    std::string spool_dir;       // "" = memory only
    std::string config_path;     // "" = central config from the collector
    int spool_max_mib = 0;       // 0 = the prober's default
    std::vector<std::string> extra_args;
  };
  Prober(std::string log_path, std::string collector_address, Options options);
  ~Prober();

  // Starts a run; started_micros() is read just before, so every seq of the
  // run is at least that value and every seq of an earlier run below it.
  absl::Status Start();
  void Kill();
  std::optional<int> Stop(std::chrono::milliseconds timeout);
  bool running();
  int64_t started_micros() const { return started_micros_; }
  const Options& options() const { return options_; }
  std::string Log() const;
  // Its /metrics page (--metrics-listen on a port picked at the first Start):
  // sonde_prober_results_acked_total, ..._results_dropped_total, ...
  absl::StatusOr<MetricValues> Metrics() const { return ScrapeMetrics(metrics_port_); }
  // The --metrics-listen port on 127.0.0.1 (0 before the first Start).
  int metrics_port() const { return metrics_port_; }

 private:
  std::string log_path_;
  std::string collector_address_;
  Options options_;
  int64_t started_micros_ = 0;
  int metrics_port_ = 0;
  std::unique_ptr<Process> process_;
};

// For a failed test: keeps `scratch` and prints where, then the tail of
// the collector's log (may be null) and of each prober's.
void KeepAndPrintLogs(ScratchDir* scratch, const Collector* collector,
                      const std::vector<std::unique_ptr<Prober>>& probers);

// A Sonde config file. Checks are generated in bulk against faultd.
class ConfigBuilder {
 public:
  ConfigBuilder& Regions(std::vector<std::string> regions);
  ConfigBuilder& Defaults(const std::string& interval, const std::string& timeout);
  // `n` checks `prefix`-0.. GETting http://127.0.0.1:port/<prefix>/<i>.
  ConfigBuilder& HttpChecks(const std::string& prefix, int n, int port);
  // `n` checks `prefix`-0.. reading faultd's SSH banner from 127.0.0.1:port.
  ConfigBuilder& TcpChecks(const std::string& prefix, int n, int port);
  // One check as a YAML flow mapping, e.g. "{name: x, tcp: {host: h, port: 1}}".
  ConfigBuilder& Check(const std::string& flow_mapping);
  std::string Yaml() const;
  // Writes via a temporary file and rename(), so a reader (a collector on
  // SIGHUP) never sees half a file.
  absl::Status WriteTo(const std::string& path) const;

 private:
  std::vector<std::string> regions_;
  std::string interval_ = "1s", timeout_ = "800ms";
  std::vector<std::string> checks_;
};

// A failed test's evidence: keeps `scratch` and prints the tail of the
// collector's log (when there is one) and of each prober's to stderr.
void KeepEvidence(ScratchDir* scratch, const Collector* collector,
                  const std::vector<std::unique_ptr<Prober>>& probers);

// What a prober's spool directory holds, read from a copy of it with the
// prober's own Spool class (opening a spool recovers it, which writes).
struct SpoolSnapshot {
  size_t unacked_batches = 0;
  uint64_t unacked_results = 0;
  uint64_t max_result_seq = 0;  // the newest result seq in the spool, acked or not
  uint64_t max_batch_seq = 0;
  uint64_t first_unacked_seq = 0;  // 0 when nothing is unacked
  uint64_t last_unacked_seq = 0;
  bool unacked_contiguous = true;  // the unacked seqs form one range
  absl::Time newest_unacked_start = absl::InfinitePast();
  uint64_t torn_tails = 0;
  std::string stored_config_version;  // config.pb, "" when absent
};
absl::StatusOr<SpoolSnapshot> InspectSpool(const std::string& spool_dir);

// Rows one prober run stored: seqs in [seq_from, seq_below).
struct SeqSummary {
  int64_t rows = 0;
  int64_t distinct = 0;
  int64_t min = 0;
  int64_t max = 0;
  int64_t first_batch_seq = 0;  // smallest batch_seq of the run in ingested_batches
  std::string ToString() const;
};
absl::StatusOr<SeqSummary> SummarizeRun(Db& db, const std::string& prober_id, int64_t seq_from = 0,
                                        int64_t seq_below = std::numeric_limits<int64_t>::max());

// Waits until, for every prober, the newest stored result started at most
// `max_lag` ago: its backlog has arrived (batches arrive in order).
bool WaitForLiveResults(Db& db, const std::vector<std::string>& prober_ids, absl::Duration max_lag,
                        std::chrono::milliseconds timeout);

}  // namespace sonde::testing

#endif  // SONDE_TESTS_TESTING_CLUSTER_H_
