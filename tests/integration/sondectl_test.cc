// sondectl against a real collector and PostgreSQL, real probers on
// loopback: `status` (what is broken first), `report` as JSON and CSV with
// the accounting footer, `incident ID` with its timeline, and the HTTP
// /api/v1/status and /api/v1/checks routes. One check is down (a closed
// port: PROTOCOL_OUTAGE, as the up check's port on the same host answers),
// one is up (a port this test serves). Hostile names cannot come
// from a valid config; the formatters' unit tests cover them.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/testing/cluster.h"
#include "tests/testing/cluster_test.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"

namespace sonde {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using sonde::testing::Collector;
using sonde::testing::Db;
using sonde::testing::FreePort;
using sonde::testing::Prober;
using sonde::testing::WaitUntil;
using std::chrono::seconds;

// The whole output must be one JSON object: nothing else (no progress
// line: standard error is not a terminal here) may be mixed in.
Struct ParseJson(const std::string& text) {
  Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

std::string Str(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}

const google::protobuf::ListValue& List(const Struct& s, const std::string& key) {
  static const google::protobuf::ListValue kEmpty;
  auto it = s.fields().find(key);
  return it == s.fields().end() ? kEmpty : it->second.list_value();
}

class SondectlTest : public sonde::testing::ClusterTest {
 protected:
  SondectlTest() : ClusterTest("sondectl") {}

  void SetUp() override {
    ClusterTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    live_port_ = target_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(live_port_, 0);
    target_thread_ = std::thread([this] { target_.listen_after_bind(); });
  }

  void StopMore() override {
    target_.stop();
    if (target_thread_.joinable()) {
      target_thread_.join();
    }
  }

  httplib::Server target_;  // the up check's target: accepts and closes
  std::thread target_thread_;
  int live_port_ = 0;
};

TEST_F(SondectlTest, StatusReportAndIncidentAgainstARealCollector) {
  const int closed_port = FreePort();  // nothing listens: TCP_REFUSED
  const std::string config = scratch_->Path("sonde.yaml");
  std::ofstream(config) << "regions: [fra, ams]\n"
                        << "defaults: {interval: 1s, timeout: 800ms}\n"
                        << "checks:\n"
                        << "  - {name: dead-tcp, service: dead, tcp: {host: 127.0.0.1, port: "
                        << closed_port << "}}\n"
                        << "  - {name: live-tcp, service: live, tcp: {host: 127.0.0.1, port: "
                        << live_port_ << "}}\n";
  const int http_port = FreePort();
  collector_ = std::make_unique<Collector>(
      scratch_->Path("collector.log"),
      Collector::Options{
          pg_->conninfo(), config, {"--http-listen", absl::StrCat("127.0.0.1:", http_port)}});
  ASSERT_OK(collector_->Start());
  for (const char* region : {"fra", "ams"}) {
    Prober::Options o;
    o.id = absl::StrCat("p-", region);
    o.region = region;
    o.config_path = config;
    probers_.push_back(
        std::make_unique<Prober>(scratch_->Path(o.id + ".log"), collector_->address(), o));
    ASSERT_OK(probers_.back()->Start());
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Int("SELECT count(*) FROM incidents WHERE service = 'dead'"
                   " AND resolved_at IS NULL AND cardinality(regions) = 2") == 1;
      },
      seconds(40)))
      << "no incident in both regions";
  absl::StatusOr<Db::Rows> rows = db_->Query("SELECT id FROM incidents WHERE service = 'dead'");
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  const std::string id = (*rows)[0][0];
  // The up check has results in both regions too.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Int("SELECT count(DISTINCT region) FROM results WHERE check_id = 'live-tcp'"
                   " AND ok") == 2;
      },
      seconds(20)));
  // Reports read the rollups, which follow the stored results by about a
  // second (docs/availability.md): every check x region has its row.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Int("SELECT count(*) FROM (SELECT DISTINCT check_id, region FROM rollup_minute) "
                   "x") == 4;
      },
      seconds(20)));

  // status --format json: the broken rows first, naming the incident.
  int rc = -1;
  std::string out = Sondectl({"status", "--format", "json"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  Struct status = ParseJson(out);
  const auto& statuses = List(status, "statuses");
  ASSERT_EQ(statuses.values_size(), 4) << out;
  for (int i = 0; i < 2; ++i) {
    const Struct& row = statuses.values(i).struct_value();
    EXPECT_EQ(Str(row, "check"), "dead-tcp") << out;
    EXPECT_EQ(Str(row, "state"), "DOWN") << out;
    EXPECT_EQ(Str(row, "failure_class"), "TCP_REFUSED") << out;
    EXPECT_FALSE(Str(row, "last_result").empty()) << out;
    ASSERT_EQ(List(row, "incident_ids").values_size(), 1) << out;
    EXPECT_EQ(List(row, "incident_ids").values(0).string_value(), id);
  }
  for (int i = 2; i < 4; ++i) {
    const Struct& row = statuses.values(i).struct_value();
    EXPECT_EQ(Str(row, "check"), "live-tcp") << out;
    EXPECT_EQ(Str(row, "state"), "UP") << out;
    EXPECT_EQ(Str(row, "failure_class"), "OK") << out;
  }
  ASSERT_EQ(List(status, "open_incidents").values_size(), 1) << out;

  // The table: services worst first; --broken leaves out the up rows.
  out = Sondectl({"status", "--broken"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  ASSERT_GE(lines.size(), 3u) << out;
  EXPECT_TRUE(absl::StartsWith(lines[1], "dead ")) << out;
  EXPECT_TRUE(absl::StrContains(lines[1], "DOWN")) << out;
  EXPECT_TRUE(absl::StrContains(out, "2 check x region UP, not shown")) << out;
  EXPECT_FALSE(absl::StrContains(out, "live-tcp")) << out;

  // report --format json: the down check's availability and the footer.
  out = Sondectl({"report", "--window", "24h", "--format", "json"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  Struct report = ParseJson(out);
  EXPECT_EQ(Str(report, "window"), "1d");
  int dead_rows = 0;
  for (const Value& v : List(report, "rows").values()) {
    const Struct& row = v.struct_value();
    if (Str(row, "check") == "dead-tcp") {
      ++dead_rows;
      // Reachability is the probe share; availability is time outside
      // outage incidents, so it depends on when the incident opened.
      EXPECT_EQ(row.fields().at("reachability").number_value(), 0) << out;
      EXPECT_LT(row.fields().at("availability").number_value(), 100) << out;
      EXPECT_EQ(Str(row, "top_failure_class"), "TCP_REFUSED") << out;
    }
  }
  EXPECT_EQ(dead_rows, 2) << out;
  ASSERT_TRUE(report.fields().contains("accounting")) << out;
  const Struct& accounting = report.fields().at("accounting").struct_value();
  for (const char* key : {"definition", "window", "time_zone", "exclusions", "regions"}) {
    EXPECT_FALSE(Str(accounting, key).empty()) << key << ": " << out;
  }
  // The collector's accounting method names the regions counted.
  EXPECT_EQ(Str(accounting, "regions"), "ams, fra");

  // --service keeps one service's rows.
  out = Sondectl({"report", "--window", "30d", "--service", "live", "--format", "json"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  const Struct live = ParseJson(out);
  EXPECT_GE(List(live, "rows").values_size(), 2) << out;
  for (const Value& v : List(live, "rows").values()) {
    EXPECT_EQ(Str(v.struct_value(), "service"), "live") << out;
  }

  // report --format csv: RFC 4180 records, the footer as the trailer.
  out = Sondectl({"report", "--window", "1y", "--format", "csv"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  std::vector<std::string> records = absl::StrSplit(out, "\r\n");
  ASSERT_GE(records.size(), 6u) << out;
  EXPECT_TRUE(absl::StartsWith(records[0], "check,service,region,probes,failures,availability,"))
      << out;
  EXPECT_TRUE(absl::StartsWith(records[1], "dead-tcp,dead,ams,")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\r\n# definition: ")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\r\n# regions: ams, fra\r\n")) << out;

  // --output writes the report to a file (whole), an unwritable one is exit 1.
  const std::string file = scratch_->Path("report.csv");
  out = Sondectl({"report", "--window", "1y", "--format", "csv", "--output", file}, &rc);
  ASSERT_EQ(rc, 0) << out;
  std::ifstream written(file, std::ios::binary);
  const std::string csv((std::istreambuf_iterator<char>(written)),
                        std::istreambuf_iterator<char>());
  EXPECT_TRUE(absl::StartsWith(csv, "check,service,region,")) << csv;
  EXPECT_TRUE(absl::StrContains(csv, "\r\n# regions: ams, fra\r\n") && absl::EndsWith(csv, "\r\n"))
      << csv;
  out =
      Sondectl({"report", "--format", "html", "--output", scratch_->Path("no/such/dir.html")}, &rc);
  EXPECT_EQ(rc, 1) << out;

  // incident ID: the incident and its timeline.
  out = Sondectl({"incident", id, "--format", "json"}, &rc);
  ASSERT_EQ(rc, 0) << out;
  Struct incident = ParseJson(out);
  EXPECT_EQ(Str(incident.fields().at("incident").struct_value(), "id"), id);
  ASSERT_GE(List(incident, "events").values_size(), 1) << out;
  EXPECT_EQ(Str(List(incident, "events").values(0).struct_value(), "kind"), "OPENED") << out;
  out = Sondectl({"incident", id}, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "timeline\n")) << out;
  EXPECT_TRUE(absl::StrContains(out, "OPENED")) << out;
  out = Sondectl({"incident", "no/such/incident"}, &rc);
  EXPECT_EQ(rc, 1) << out;

  // The same state over HTTP.
  httplib::Client http("127.0.0.1", http_port);
  http.set_read_timeout(10);
  auto res = http.Get("/api/v1/status?service=dead&region=fra");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  Struct fra = ParseJson(res->body);
  ASSERT_EQ(List(fra, "statuses").values_size(), 1) << res->body;
  EXPECT_EQ(Str(List(fra, "statuses").values(0).struct_value(), "state"), "DOWN");
  res = http.Get("/api/v1/checks?check=live-tcp");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  Struct checks = ParseJson(res->body);
  ASSERT_EQ(List(checks, "checks").values_size(), 1) << res->body;
  EXPECT_EQ(Str(List(checks, "checks").values(0).struct_value(), "interval"), "1s");
}

}  // namespace
}  // namespace sonde
