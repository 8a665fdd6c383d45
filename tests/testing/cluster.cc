#include "tests/testing/cluster.h"

#include <httplib.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "prober/uplink/spool.h"
#include "sonde/v1/collector.pb.h"
#include "spdlog/spdlog.h"

namespace sonde::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string SourceDir() {
  const char* s = std::getenv("SONDE_SOURCE_DIR");
  return s != nullptr && s[0] != '\0' ? s : ".";
}

std::string PostgresScript() { return SourceDir() + "/deploy/local-postgres.sh"; }

std::string Quote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "''"}}), "'");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<Process> Launch(std::vector<std::string> argv, const std::string& log_path) {
  // A header per run, so one log file tells the runs apart.
  {
    std::ofstream log(log_path, std::ios::app);
    log << "==== " << absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone())
        << " start: " << absl::StrJoin(argv, " ") << "\n";
  }
  return std::make_unique<Process>(std::move(argv), log_path);
}

}  // namespace

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

bool WaitUntil(const std::function<bool()>& done, milliseconds timeout, milliseconds poll) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(poll);
  }
}

std::string Tail(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) {
    return text;
  }
  return "[...]\n" + text.substr(text.size() - max_bytes);
}

// ---- ScratchDir ----

ScratchDir::ScratchDir(const std::string& name) {
  std::string tmpl = absl::StrCat("/tmp/sonde-", name, ".XXXXXX");
  if (mkdtemp(tmpl.data()) != nullptr) {
    path_ = tmpl;
    chmod(path_.c_str(), 0755);
  }
}

ScratchDir::~ScratchDir() {
  const char* keep = std::getenv("SONDE_KEEP_TEST_DIRS");
  if (keep != nullptr && std::string(keep) == "1") {
    keep_ = true;
  }
  if (!keep_ && !path_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
}

// ---- Postgres ----

Postgres::Postgres(std::string data_dir) : data_dir_(std::move(data_dir)) {}

Postgres::~Postgres() {
  if (created_) {
    std::string out;
    RunCommand({"/bin/bash", PostgresScript(), "destroy", data_dir_}, &out, seconds(60));
  }
}

absl::Status Postgres::Start() {
  std::string out;
  const bool first = port_ == 0;
  // A free port can be taken between FreePort() and the server's bind.
  for (int attempt = 0; attempt < (first ? 3 : 1); ++attempt) {
    int port = first ? FreePort() : port_;
    created_ = true;
    int rc = RunCommand({"/bin/bash", PostgresScript(), "start", data_dir_, std::to_string(port)},
                        &out, seconds(120));
    if (rc == 0) {
      port_ = port;
      return absl::OkStatus();
    }
  }
  return absl::UnavailableError(absl::StrCat("local-postgres.sh start failed:\n", out));
}

absl::Status Postgres::Stop() {
  std::string out;
  int rc = RunCommand({"/bin/bash", PostgresScript(), "stop", data_dir_}, &out, seconds(60));
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("local-postgres.sh stop failed:\n", out));
  }
  return absl::OkStatus();
}

std::string Postgres::conninfo() const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=sonde dbname=sonde connect_timeout=5");
}

// ---- Db ----

Db::Db(std::string conninfo) : conninfo_(std::move(conninfo)) {}

Db::~Db() {
  if (conn_ != nullptr) {
    PQfinish(conn_);
  }
}

absl::StatusOr<Db::Rows> Db::Query(const std::string& sql) {
  if (conn_ != nullptr && PQstatus(conn_) != CONNECTION_OK) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  if (conn_ == nullptr) {
    conn_ = PQconnectdb(conninfo_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string message = PQerrorMessage(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      return absl::UnavailableError(absl::StrCat("connect: ", message));
    }
  }
  PGresult* res = PQexec(conn_, sql.c_str());
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string message = PQresultErrorMessage(res);
    PQclear(res);
    return absl::InternalError(absl::StrCat(sql, ": ", message));
  }
  Rows rows;
  for (int i = 0; i < PQntuples(res); ++i) {
    std::vector<std::string> row;
    for (int j = 0; j < PQnfields(res); ++j) {
      row.emplace_back(PQgetvalue(res, i, j));
    }
    rows.push_back(std::move(row));
  }
  PQclear(res);
  return rows;
}

absl::StatusOr<int64_t> Db::Int(const std::string& sql) {
  absl::StatusOr<Rows> rows = Query(sql);
  if (!rows.ok()) {
    return rows.status();
  }
  if (rows->size() != 1 || (*rows)[0].size() != 1) {
    return absl::InternalError(
        absl::StrCat(sql, ": expected one value, got ", rows->size(), " rows"));
  }
  const std::string& v = (*rows)[0][0];
  if (v.empty()) {
    return 0;
  }
  int64_t out = 0;
  if (!absl::SimpleAtoi(v, &out)) {
    return absl::InternalError(absl::StrCat(sql, ": not an integer: ", v));
  }
  return out;
}

// ---- ScrapeMetrics ----

absl::StatusOr<MetricValues> ScrapeMetrics(int port, const std::string& token) {
  if (port <= 0) {
    return absl::FailedPreconditionError("no metrics port");
  }
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  httplib::Headers headers;
  if (!token.empty()) {
    headers.emplace("Authorization", absl::StrCat("Bearer ", token));
  }
  auto res = client.Get("/metrics", headers);
  if (!res || res->status != 200) {
    return absl::UnavailableError(absl::StrCat("GET 127.0.0.1:", port, "/metrics failed"));
  }
  MetricValues values;
  std::istringstream in(res->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    size_t space = line.rfind(' ');
    if (space == std::string::npos) {
      continue;
    }
    std::string name = line.substr(0, std::min(space, line.find('{')));
    double v = 0;
    if (absl::SimpleAtod(line.substr(space + 1), &v)) {
      values[name] += v;
    }
  }
  return values;
}

// ---- PlaintextFlags ----

std::vector<std::string> PlaintextFlags(const std::string& binary) {
  static auto* cache = new std::map<std::string, std::vector<std::string>>;
  auto it = cache->find(binary);
  if (it != cache->end()) {
    return it->second;
  }
  std::string help;
  RunCommand({binary, "--help"}, &help, seconds(10));
  std::vector<std::string> flags;
  if (absl::StrContains(help, "--insecure")) {
    flags.push_back("--insecure");
  }
  (*cache)[binary] = flags;
  return flags;
}

std::string RunSondectl(const std::string& collector_address, const std::vector<std::string>& args,
                        int* rc) {
  std::vector<std::string> argv = {BinPath("sondectl")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--collector");
  argv.push_back(collector_address);
  for (const std::string& f : PlaintextFlags(BinPath("sondectl"))) {
    argv.push_back(f);
  }
  std::string out;
  *rc = RunCommand(argv, &out);
  return out;
}

// ---- Faultd ----

absl::StatusOr<std::map<std::string, int>> LaunchFaultd(const std::vector<std::string>& argv,
                                                        const std::string& ports_file,
                                                        const std::string& log_path,
                                                        std::unique_ptr<Process>* process) {
  *process = Launch(argv, log_path);
  std::string json;
  bool ok = WaitUntil(
      [&] {
        json = ReadFile(ports_file);
        return !json.empty() || !(*process)->running();
      },
      seconds(20), milliseconds(50));
  if (!ok || json.empty()) {
    return absl::UnavailableError(
        absl::StrCat("sonde-faultd did not start:\n", ReadFile(log_path)));
  }
  google::protobuf::Struct ports;
  if (!google::protobuf::util::JsonStringToMessage(json, &ports).ok()) {
    return absl::InternalError(absl::StrCat("bad ports file: ", json));
  }
  std::map<std::string, int> out;
  for (const auto& [name, v] : ports.fields()) {
    out[name] = static_cast<int>(v.number_value());
  }
  return out;
}

Faultd::Faultd(std::string dir) : dir_(std::move(dir)) {}

absl::Status Faultd::Start(const std::string& rules_json) {
  std::string ports_file = dir_ + "/faultd.ports";
  std::vector<std::string> argv = {BinPath("sonde-faultd"),
                                   "--http-listen",
                                   "127.0.0.1:0",
                                   "--tcp-listen",
                                   "127.0.0.1:0",
                                   "--control-listen",
                                   "127.0.0.1:0",
                                   "--ports-file",
                                   ports_file,
                                   "--max-connections",
                                   "65536",
                                   "--log-level",
                                   "warn"};
  if (!rules_json.empty()) {
    std::string rules_file = dir_ + "/faultd-rules.json";
    std::ofstream(rules_file) << rules_json;
    argv.push_back("--rules");
    argv.push_back(rules_file);
  }
  absl::StatusOr<std::map<std::string, int>> ports =
      LaunchFaultd(argv, ports_file, dir_ + "/faultd.log", &process_);
  if (!ports.ok()) {
    return ports.status();
  }
  auto port = [&](const char* name) {
    auto p = ports->find(name);
    return p == ports->end() ? 0 : p->second;
  };
  http_port_ = port("http");
  tcp_port_ = port("tcp");
  control_port_ = port("control");
  return absl::OkStatus();
}

std::string Faultd::Log() const { return ReadFile(dir_ + "/faultd.log"); }

// ---- Collector ----

Collector::Collector(std::string log_path, Options options)
    : log_path_(std::move(log_path)), options_(std::move(options)) {}

Collector::~Collector() = default;

absl::Status Collector::Start() {
  if (process_ != nullptr && process_->running()) {
    return absl::FailedPreconditionError("collector already running");
  }
  if (port_ == 0) {
    port_ = FreePort();
  }
  if (metrics_port_ == 0) {
    metrics_port_ = FreePort();
  }
  std::vector<std::string> argv = {BinPath("sonde-collector"),
                                   "--listen",
                                   address(),
                                   "--postgres",
                                   options_.conninfo,
                                   "--metrics-listen",
                                   absl::StrCat("127.0.0.1:", metrics_port_)};
  if (!options_.config_path.empty()) {
    argv.push_back("--config");
    argv.push_back(options_.config_path);
  }
  // Tokens without TLS are allowed on loopback; --insecure would refuse them.
  const bool tokens = std::find(options_.extra_args.begin(), options_.extra_args.end(),
                                "--tokens") != options_.extra_args.end();
  for (const std::string& f : PlaintextFlags(BinPath("sonde-collector"))) {
    if (!tokens) {
      argv.push_back(f);
    }
  }
  for (const std::string& a : options_.extra_args) {
    argv.push_back(a);
  }
  process_ = Launch(argv, log_path_);
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) {
      return absl::UnavailableError(absl::StrCat("sonde-collector exited:\n", Tail(Log())));
    }
    if (WaitForPort(port_, milliseconds(200))) {
      return absl::OkStatus();
    }
  }
  return absl::DeadlineExceededError(
      absl::StrCat("sonde-collector not listening on ", address(), " after 60 s:\n", Tail(Log())));
}

void Collector::Kill() {
  if (process_ == nullptr) {
    return;
  }
  process_->Signal(SIGKILL);
  process_->Wait(seconds(10));
}

std::optional<int> Collector::Stop(milliseconds timeout) {
  if (process_ == nullptr) {
    return std::nullopt;
  }
  process_->Signal(SIGTERM);
  return process_->Wait(timeout);
}

void Collector::Reload() {
  if (process_ != nullptr) {
    process_->Signal(SIGHUP);
  }
}

void Collector::Signal(int sig) {
  if (process_ != nullptr) {
    process_->Signal(sig);
  }
}

bool Collector::running() { return process_ != nullptr && process_->running(); }

std::string Collector::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::string Collector::Log() const { return ReadFile(log_path_); }

// ---- Prober ----

Prober::Prober(std::string log_path, std::string collector_address, Options options)
    : log_path_(std::move(log_path)),
      collector_address_(std::move(collector_address)),
      options_(std::move(options)) {}

Prober::~Prober() = default;

absl::Status Prober::Start() {
  if (process_ != nullptr && process_->running()) {
    return absl::FailedPreconditionError("prober already running");
  }
  if (metrics_port_ == 0) {
    metrics_port_ = FreePort();
  }
  std::vector<std::string> argv = {
      BinPath("sonde-prober"), "--region",         options_.region,
      "--prober-id",           options_.id,        "--collector",
      collector_address_,      "--metrics-listen", absl::StrCat("127.0.0.1:", metrics_port_)};
  if (!options_.source_address.empty()) {
    argv.push_back("--source-address");
    argv.push_back(options_.source_address);
  }
  if (!options_.spool_dir.empty()) {
    argv.push_back("--spool-dir");
    argv.push_back(options_.spool_dir);
  }
  if (!options_.config_path.empty()) {
    argv.push_back("--config");
    argv.push_back(options_.config_path);
  }
  if (options_.spool_max_mib > 0) {
    argv.push_back("--spool-max-mib");
    argv.push_back(std::to_string(options_.spool_max_mib));
  }
  for (const std::string& f : PlaintextFlags(BinPath("sonde-prober"))) {
    argv.push_back(f);
  }
  for (const std::string& a : options_.extra_args) {
    argv.push_back(a);
  }
  started_micros_ = NowMicros();
  process_ = Launch(argv, log_path_);
  // A usage error ends it at once; say so here rather than as missing rows.
  std::this_thread::sleep_for(milliseconds(100));
  if (!process_->running()) {
    return absl::UnavailableError(absl::StrCat("sonde-prober exited at start:\n", Tail(Log())));
  }
  return absl::OkStatus();
}

void Prober::Kill() {
  if (process_ == nullptr) {
    return;
  }
  process_->Signal(SIGKILL);
  process_->Wait(seconds(10));
}

std::optional<int> Prober::Stop(milliseconds timeout) {
  if (process_ == nullptr) {
    return std::nullopt;
  }
  process_->Signal(SIGTERM);
  return process_->Wait(timeout);
}

bool Prober::running() { return process_ != nullptr && process_->running(); }

std::string Prober::Log() const { return ReadFile(log_path_); }

// ---- ConfigBuilder ----

ConfigBuilder& ConfigBuilder::Regions(std::vector<std::string> regions) {
  regions_ = std::move(regions);
  return *this;
}

ConfigBuilder& ConfigBuilder::Defaults(const std::string& interval, const std::string& timeout) {
  interval_ = interval;
  timeout_ = timeout;
  return *this;
}

void KeepAndPrintLogs(ScratchDir* scratch, const Collector* collector,
                      const std::vector<std::unique_ptr<Prober>>& probers) {
  scratch->Keep();
  std::cerr << "logs kept in " << scratch->path() << "\n";
  if (collector != nullptr) {
    std::cerr << "--- collector\n" << Tail(collector->Log()) << "\n";
  }
  for (const auto& p : probers) {
    std::cerr << "--- prober " << p->options().id << "\n" << Tail(p->Log(), 2500) << "\n";
  }
}

ConfigBuilder& ConfigBuilder::HttpChecks(const std::string& prefix, int n, int port) {
  for (int i = 0; i < n; ++i) {
    checks_.push_back(absl::StrCat("{name: ", prefix, "-", i, ", service: ", prefix,
                                   ", http: {url: 'http://127.0.0.1:", port, "/", prefix, "/", i,
                                   "'}}"));
  }
  return *this;
}

ConfigBuilder& ConfigBuilder::TcpChecks(const std::string& prefix, int n, int port) {
  for (int i = 0; i < n; ++i) {
    checks_.push_back(absl::StrCat("{name: ", prefix, "-", i, ", service: ", prefix,
                                   ", tcp: {host: 127.0.0.1, port: ", port,
                                   ", expect_banner: '^SSH-2'}}"));
  }
  return *this;
}

ConfigBuilder& ConfigBuilder::Check(const std::string& flow_mapping) {
  checks_.push_back(flow_mapping);
  return *this;
}

std::string ConfigBuilder::Yaml() const {
  std::string out;
  if (!regions_.empty()) {
    absl::StrAppend(&out, "regions: [", absl::StrJoin(regions_, ", "), "]\n");
  }
  absl::StrAppend(&out, "defaults: {interval: ", interval_, ", timeout: ", timeout_, "}\n");
  if (checks_.empty()) {
    absl::StrAppend(&out, "checks: []\n");
  } else {
    absl::StrAppend(&out, "checks:\n");
    for (const std::string& c : checks_) {
      absl::StrAppend(&out, "  - ", c, "\n");
    }
  }
  return out;
}

absl::Status ConfigBuilder::WriteTo(const std::string& path) const {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << Yaml();
    if (!out.flush()) {
      return absl::InternalError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

// ---- InspectSpool ----

absl::StatusOr<SpoolSnapshot> InspectSpool(const std::string& spool_dir) {
  ScratchDir copy("spool-copy");
  std::error_code ec;
  std::filesystem::copy(spool_dir, copy.Path("spool"), std::filesystem::copy_options::recursive,
                        ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("copying ", spool_dir, ": ", ec.message()));
  }
  prober::Spool::Options options;
  options.dir = copy.Path("spool");
  options.max_bytes = std::numeric_limits<uint64_t>::max() / 2;  // never drop while reading
  // The copy's recovery would log at info level in the test's output.
  spdlog::set_level(spdlog::level::warn);
  absl::StatusOr<std::unique_ptr<prober::Spool>> spool = prober::Spool::Open(options);
  if (!spool.ok()) {
    return spool.status();
  }
  SpoolSnapshot snap;
  prober::Spool::Stats stats = (*spool)->stats();
  snap.unacked_batches = stats.unacked_batches;
  snap.unacked_results = stats.unacked_results;
  snap.torn_tails = stats.torn_tails;
  snap.max_result_seq = (*spool)->max_result_seq();
  snap.max_batch_seq = (*spool)->max_batch_seq();
  uint64_t after = 0;
  uint64_t expected_next = 0;
  for (size_t i = 0; i <= stats.unacked_batches; ++i) {  // bounded: one pass
    std::optional<v1::ResultBatch> batch = (*spool)->Next(after);
    if (!batch) {
      break;
    }
    after = batch->batch_seq();
    for (const v1::ProbeResult& r : batch->results()) {
      if (snap.first_unacked_seq == 0) {
        snap.first_unacked_seq = r.seq();
      } else if (r.seq() != expected_next) {
        snap.unacked_contiguous = false;
      }
      expected_next = r.seq() + 1;
      snap.last_unacked_seq = r.seq();
      absl::Time start = absl::FromUnixSeconds(r.start_time().seconds()) +
                         absl::Nanoseconds(r.start_time().nanos());
      snap.newest_unacked_start = std::max(snap.newest_unacked_start, start);
    }
  }
  std::ifstream in(spool_dir + "/config.pb", std::ios::binary);
  v1::ProberConfig stored;
  if (in && stored.ParseFromIstream(&in)) {
    snap.stored_config_version = stored.version();
  }
  return snap;
}

// ---- SummarizeRun / WaitForLiveResults ----

std::string SeqSummary::ToString() const {
  return absl::StrCat("rows=", rows, " distinct=", distinct, " min=", min, " max=", max,
                      " span=", rows == 0 ? 0 : max - min + 1,
                      " first_batch_seq=", first_batch_seq);
}

absl::StatusOr<SeqSummary> SummarizeRun(Db& db, const std::string& prober_id, int64_t seq_from,
                                        int64_t seq_below) {
  absl::StatusOr<Db::Rows> rows = db.Query(absl::StrCat(
      "SELECT count(*), count(DISTINCT seq), coalesce(min(seq), 0), coalesce(max(seq), 0)"
      " FROM results WHERE prober_id = ",
      Quote(prober_id), " AND seq >= ", seq_from, " AND seq < ", seq_below));
  if (!rows.ok()) {
    return rows.status();
  }
  SeqSummary s;
  const auto& r = (*rows)[0];
  if (!absl::SimpleAtoi(r[0], &s.rows) || !absl::SimpleAtoi(r[1], &s.distinct) ||
      !absl::SimpleAtoi(r[2], &s.min) || !absl::SimpleAtoi(r[3], &s.max)) {
    return absl::InternalError("SummarizeRun: unexpected number format");
  }
  absl::StatusOr<int64_t> first = db.Int(absl::StrCat(
      "SELECT min(batch_seq) FROM ingested_batches WHERE prober_id = ", Quote(prober_id),
      " AND batch_seq >= ", seq_from, " AND batch_seq < ", seq_below));
  if (!first.ok()) {
    return first.status();
  }
  s.first_batch_seq = *first;
  return s;
}

bool WaitForLiveResults(Db& db, const std::vector<std::string>& prober_ids, absl::Duration max_lag,
                        milliseconds timeout) {
  std::vector<std::string> quoted;
  for (const std::string& id : prober_ids) {
    quoted.push_back(Quote(id));
  }
  const std::string sql = absl::StrCat(
      "SELECT prober_id, (extract(epoch FROM now() - max(started_at)) * 1000)::bigint"
      " FROM results WHERE prober_id IN (",
      absl::StrJoin(quoted, ", "), ") GROUP BY 1");
  return WaitUntil(
      [&] {
        absl::StatusOr<Db::Rows> rows = db.Query(sql);
        if (!rows.ok() || rows->size() != prober_ids.size()) {
          return false;
        }
        for (const auto& row : *rows) {
          int64_t lag_ms = 0;
          if (!absl::SimpleAtoi(row[1], &lag_ms) || lag_ms > absl::ToInt64Milliseconds(max_lag)) {
            return false;
          }
        }
        return true;
      },
      timeout, milliseconds(250));
}

void KeepEvidence(ScratchDir* scratch, const Collector* collector,
                  const std::vector<std::unique_ptr<Prober>>& probers) {
  scratch->Keep();
  std::cerr << "logs kept in " << scratch->path() << "\n";
  if (collector != nullptr) {
    std::cerr << "--- collector\n" << Tail(collector->Log()) << "\n";
  }
  for (const auto& p : probers) {
    std::cerr << "--- prober " << p->options().id << "\n" << Tail(p->Log(), 2500) << "\n";
  }
}

}  // namespace sonde::testing
