// End to end: a real PostgreSQL, sonde-collector and two sonde-probers as
// processes, real gRPC over loopback, an in-process HTTP target. Asserts on
// the stored rows and on `sondectl report`.
#include <gtest/gtest.h>
#include <httplib.h>
#include <libpq-fe.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/testing/process.h"

namespace sonde {
namespace {

using sonde::testing::BinPath;
using sonde::testing::FreePort;
using sonde::testing::Process;
using sonde::testing::RunCommand;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string SourceDir() {
  const char* s = std::getenv("SONDE_SOURCE_DIR");
  return s != nullptr ? s : ".";
}

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sonde-e2e.XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::filesystem::permissions(dir_, std::filesystem::perms::all);
    pg_port_ = FreePort();
    std::string out;
    int rc = RunCommand({"/bin/bash", SourceDir() + "/deploy/local-postgres.sh", "start",
                         dir_ + "/pg", std::to_string(pg_port_)},
                        &out, seconds(120));
    ASSERT_EQ(rc, 0) << out;
    conninfo_ = absl::StrCat("host=127.0.0.1 port=", pg_port_, " user=sonde dbname=sonde");

    target_.Get("/healthy", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("all good", "text/plain");
    });
    target_.Get("/broken", [](const httplib::Request&, httplib::Response& res) {
      res.status = 503;
      res.set_content("down for maintenance", "text/plain");
    });
    target_port_ = target_.bind_to_any_port("127.0.0.1");
    target_thread_ = std::thread([this] { target_.listen_after_bind(); });
  }

  void TearDown() override {
    target_.stop();
    target_thread_.join();
    std::string out;
    RunCommand({"/bin/bash", SourceDir() + "/deploy/local-postgres.sh", "destroy", dir_ + "/pg"},
               &out, seconds(60));
    if (!HasFailure()) {
      std::filesystem::remove_all(dir_);
    }
  }

  std::string WriteConfig() {
    std::string path = dir_ + "/sonde.yaml";
    std::ofstream(path)
        << "regions: [fra, ams]\n"
        << "defaults: {interval: 1s, timeout: 800ms}\n"
        << "checks:\n"
        << "  - name: web-healthy\n    service: web\n    http: {url: 'http://127.0.0.1:"
        << target_port_ << "/healthy', expect_body: 'good'}\n"
        << "  - name: web-broken\n    service: web\n    http: {url: 'http://127.0.0.1:"
        << target_port_ << "/broken'}\n";
    return path;
  }

  // Runs a query; returns rows as tab-joined strings.
  std::vector<std::string> Query(const std::string& sql) {
    PGconn* c = PQconnectdb(conninfo_.c_str());
    std::vector<std::string> rows;
    PGresult* r = PQexec(c, sql.c_str());
    EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c);
    for (int i = 0; i < PQntuples(r); ++i) {
      std::string row;
      for (int j = 0; j < PQnfields(r); ++j) {
        absl::StrAppend(&row, j ? "\t" : "", PQgetvalue(r, i, j));
      }
      rows.push_back(row);
    }
    PQclear(r);
    PQfinish(c);
    return rows;
  }

  std::string dir_;
  int pg_port_ = 0;
  std::string conninfo_;
  httplib::Server target_;
  int target_port_ = 0;
  std::thread target_thread_;
};

TEST_F(EndToEndTest, ResultsFlowFromProbersToReport) {
  std::string config = WriteConfig();
  int grpc_port = FreePort();
  std::string collector_addr = absl::StrCat("127.0.0.1:", grpc_port);
  int collector_metrics = FreePort(), fra_metrics = FreePort();
  Process collector(
      {BinPath("sonde-collector"), "--listen", collector_addr, "--postgres", conninfo_, "--config",
       config, "--metrics-listen", absl::StrCat("127.0.0.1:", collector_metrics)},
      dir_ + "/collector.log");
  ASSERT_TRUE(sonde::testing::WaitForPort(grpc_port, seconds(30))) << collector.Log();

  // fra takes its checks from the collector; ams runs standalone from the file.
  Process fra({BinPath("sonde-prober"), "--region", "fra", "--prober-id", "p-fra", "--collector",
               collector_addr, "--source-address", "127.0.0.2", "--spool-dir", dir_ + "/spool-fra",
               "--metrics-listen", absl::StrCat("127.0.0.1:", fra_metrics)},
              dir_ + "/fra.log");
  Process ams({BinPath("sonde-prober"), "--region", "ams", "--prober-id", "p-ams", "--collector",
               collector_addr, "--source-address", "127.0.0.3", "--config", config},
              dir_ + "/ams.log");
  std::this_thread::sleep_for(seconds(6));

  // The pipeline's counters are exposed for Prometheus.
  auto metric = [](int port, const std::string& name) -> double {
    httplib::Client c("127.0.0.1", port);
    auto res = c.Get("/metrics");
    if (!res || res->status != 200) {
      return -1;
    }
    size_t at = res->body.find("\n" + name + " ");
    if (at == std::string::npos) {
      return -2;
    }
    return std::stod(res->body.substr(at + name.size() + 2));
  };
  EXPECT_GT(metric(fra_metrics, "sonde_prober_results_acked_total"), 0);
  EXPECT_EQ(metric(fra_metrics, "sonde_prober_results_dropped_total"), 0);
  EXPECT_EQ(metric(fra_metrics, "sonde_prober_collector_connected"), 1);
  EXPECT_EQ(metric(fra_metrics, "sonde_prober_checks"), 2);
  EXPECT_GT(metric(collector_metrics, "sonde_ingest_results_stored_total"), 0);

  // Probers stop cleanly and quickly on SIGTERM.
  for (Process* p : {&fra, &ams}) {
    auto start = std::chrono::steady_clock::now();
    p->Signal(SIGTERM);
    auto status = p->Wait(seconds(5));
    ASSERT_TRUE(status.has_value()) << "prober did not stop within 5 s\n" << p->Log();
    EXPECT_EQ(*status, 0) << p->Log();
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
  }

  // One row per result, per prober and region, with unique contiguous seqs.
  auto per = Query(
      "SELECT prober_id, region, check_id, count(*), sum(ok::int), count(DISTINCT seq),"
      " max(seq) - min(seq) + 1, min(failure_class), max(failure_class)"
      " FROM results GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
  ASSERT_EQ(per.size(), 4u) << collector.Log() << fra.Log() << ams.Log();
  std::map<std::string, std::vector<std::string>> by_key;
  for (const std::string& row : per) {
    std::vector<std::string> f = absl::StrSplit(row, '\t');
    by_key[f[0] + "/" + f[2]] = f;
    EXPECT_EQ(f[3], f[5]) << "duplicate seq in " << row;
    EXPECT_GE(std::stoi(f[3]), 3) << row;
  }
  EXPECT_EQ(by_key["p-fra/web-healthy"][1], "fra");
  EXPECT_EQ(by_key["p-ams/web-healthy"][1], "ams");
  for (const char* p : {"p-fra", "p-ams"}) {
    const auto& healthy = by_key[std::string(p) + "/web-healthy"];
    EXPECT_EQ(healthy[3], healthy[4]) << "healthy check failed: " << absl::StrJoin(healthy, " ");
    EXPECT_EQ(healthy[7], "OK");
    const auto& broken = by_key[std::string(p) + "/web-broken"];
    EXPECT_EQ(broken[4], "0");
    EXPECT_EQ(broken[7], "HTTP_STATUS");
    EXPECT_EQ(broken[8], "HTTP_STATUS");
  }
  // Every seq of a prober is stored exactly once across both checks.
  auto seqs = Query(
      "SELECT prober_id, count(*), count(DISTINCT seq), max(seq) - min(seq) + 1"
      " FROM results GROUP BY 1");
  for (const std::string& row : seqs) {
    std::vector<std::string> f = absl::StrSplit(row, '\t');
    EXPECT_EQ(f[1], f[2]) << row;
    EXPECT_EQ(f[1], f[3]) << "gap in seq: " << row;
  }

  // The report says the same.
  std::string out;
  int rc = RunCommand({BinPath("sondectl"), "report", "--collector", collector_addr, "--window",
                       "1h", "--format", "json"},
                      &out);
  ASSERT_EQ(rc, 0) << out;
  google::protobuf::Struct report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &report).ok()) << out;
  const auto& rows = report.fields().at("rows").list_value().values();
  ASSERT_EQ(rows.size(), 4);
  for (const auto& v : rows) {
    const auto& f = v.struct_value().fields();
    std::string check = f.at("check").string_value();
    double probes = f.at("probes").number_value();
    EXPECT_GE(probes, 3);
    // Reachability is the probe share; availability is time outside outage
    // incidents (docs/availability.md), so the broken check's depends on
    // when its incident opened within these seconds.
    if (check == "web-healthy") {
      EXPECT_DOUBLE_EQ(f.at("reachability").number_value(), 100.0);
      EXPECT_DOUBLE_EQ(f.at("availability").number_value(), 100.0);
    } else {
      EXPECT_EQ(check, "web-broken");
      EXPECT_DOUBLE_EQ(f.at("reachability").number_value(), 0.0);
      EXPECT_GE(f.at("availability").number_value(), 0.0);
      EXPECT_LT(f.at("availability").number_value(), 100.0 + 1e-9);
      EXPECT_EQ(f.at("top_failure_class").string_value(), "HTTP_STATUS");
    }
  }
  std::string table;
  ASSERT_EQ(
      RunCommand({BinPath("sondectl"), "report", "--collector", collector_addr, "--window", "1h"},
                 &table),
      0);
  EXPECT_NE(table.find("100.000%"), std::string::npos) << table;
  EXPECT_NE(table.find("HTTP_STATUS"), std::string::npos) << table;

  // The collector stops cleanly within 5 s.
  collector.Signal(SIGTERM);
  auto status = collector.Wait(seconds(5));
  ASSERT_TRUE(status.has_value()) << collector.Log();
  EXPECT_EQ(*status, 0) << collector.Log();
}

TEST_F(EndToEndTest, BadConfigIsRefusedAndNothingStarts) {
  std::string bad = dir_ + "/bad.yaml";
  std::ofstream(bad) << "checks:\n  - name: a\n    tcp: {host: h, port: 70000}\n";
  std::string out;
  EXPECT_EQ(RunCommand({BinPath("sonde-prober"), "--config", bad, "--once"}, &out), 2);
  EXPECT_NE(out.find("bad.yaml:3: checks[0] \"a\": tcp.port: must be 1..65535"), std::string::npos)
      << out;
  int port = FreePort();
  EXPECT_EQ(RunCommand({BinPath("sonde-collector"), "--listen", absl::StrCat("127.0.0.1:", port),
                        "--postgres", conninfo_, "--config", bad},
                       &out, seconds(10)),
            2);
  EXPECT_NE(out.find("tcp.port"), std::string::npos) << out;
  EXPECT_FALSE(sonde::testing::WaitForPort(port, milliseconds(200)));
  EXPECT_EQ(RunCommand({BinPath("sondectl"), "validate", "--config", bad}, &out), 2);
  EXPECT_NE(out.find("tcp.port"), std::string::npos) << out;
}

}  // namespace
}  // namespace sonde
