// Both daemons' /metrics as Prometheus reads them, with real processes on
// loopback (PostgreSQL, sonde-collector, one sonde-prober taking its checks
// from the collector): after results flowed, `promtool check metrics`
// (Debian's prometheus package) accepts each page without a lint warning,
// the per check x region series say what the checks did, the SLO gauges
// carry the engine's answer, and a check removed from the config loses its
// series on reload.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/cluster.h"
#include "tests/testing/status_matchers.h"

namespace sonde {
namespace {

using sonde::testing::Collector;
using sonde::testing::FreePort;
using sonde::testing::Postgres;
using sonde::testing::Prober;
using sonde::testing::RunCommand;
using sonde::testing::ScratchDir;
using sonde::testing::WaitUntil;
using std::chrono::seconds;

// The raw page at 127.0.0.1:port/metrics ("" when it cannot be read).
std::string Page(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  auto res = client.Get("/metrics");
  return res && res->status == 200 ? res->body : "";
}

// The value of the sample line `series` (name and labels exactly as
// written), or -1 when the page has no such line.
double Sample(const std::string& page, const std::string& series) {
  const std::string head = "\n" + series + " ";
  const size_t at = page.find(head);
  return at == std::string::npos ? -1 : std::stod(page.substr(at + head.size()));
}

// `promtool check metrics` on `page`: its exit code; its output (problems
// and lint warnings) in *out.
int Promtool(const ScratchDir& dir, const std::string& name, const std::string& page,
             std::string* out) {
  const std::string path = dir.Path(name + ".metrics");
  std::ofstream(path) << page;
  return RunCommand({"/bin/sh", "-c", "promtool check metrics < '" + path + "'"}, out);
}

std::string Config(int http_port, int closed_port, bool with_down) {
  std::string yaml = absl::StrCat(
      "regions: [fra]\n"
      "defaults: {interval: 1s, timeout: 800ms}\n"
      "checks:\n"
      "  - {name: web-ok, service: web, http: {url: 'http://127.0.0.1:",
      http_port, "/ok'}}\n");
  if (with_down) {
    absl::StrAppend(&yaml,
                    "  - {name: tcp-down, service: db, tcp: {host: 127.0.0.1, port: ", closed_port,
                    "}}\n");
  }
  absl::StrAppend(&yaml, "slos:\n  - {name: web-ok-999, check: web-ok, target_percent: 99.9}\n");
  return yaml;
}

TEST(MetricsTest, BothPagesPassPromtoolAndPerCheckSeriesFollowTheConfig) {
  ScratchDir scratch("metrics");
  ASSERT_FALSE(scratch.path().empty());
  Postgres pg(scratch.Path("pg"));
  ASSERT_OK(pg.Start());
  httplib::Server target;
  target.Get("/ok", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("fine", "text/plain");
  });
  const int http_port = target.bind_to_any_port("127.0.0.1");
  std::thread target_thread([&] { target.listen_after_bind(); });
  const int closed_port = FreePort();  // nothing listens: TCP_REFUSED
  const std::string config = scratch.Path("sonde.yaml");
  std::ofstream(config) << Config(http_port, closed_port, true);

  Collector collector(scratch.Path("collector.log"), Collector::Options{pg.conninfo(), config, {}});
  ASSERT_OK(collector.Start());
  Prober::Options o;
  o.id = "p-fra";
  o.region = "fra";
  o.source_address = "127.0.0.2";
  Prober prober(scratch.Path("prober.log"), collector.address(), o);
  ASSERT_OK(prober.Start());

  const std::string ok = "check=\"web-ok\",region=\"fra\"";
  const std::string down = "check=\"tcp-down\",region=\"fra\"";
  std::string page;
  ASSERT_TRUE(WaitUntil(
      [&] {
        page = Page(collector.metrics_port());
        return Sample(page, "sonde_check_probes_total{" + ok + "}") >= 2 &&
               Sample(page, "sonde_check_probes_total{" + down + "}") >= 2;
      },
      std::chrono::seconds(60)))
      << page << "\n--- collector\n"
      << collector.Log() << "\n--- prober\n"
      << prober.Log();

  // What the checks did, per check x region.
  EXPECT_EQ(Sample(page, "sonde_check_up{" + ok + "}"), 1);
  EXPECT_EQ(Sample(page, "sonde_check_up{" + down + "}"), 0);
  EXPECT_EQ(Sample(page, "sonde_check_probe_successes_total{" + ok + "}"),
            Sample(page, "sonde_check_probes_total{" + ok + "}"));
  EXPECT_EQ(Sample(page, "sonde_check_probe_successes_total{" + down + "}"), 0);
  EXPECT_GE(Sample(page, "sonde_check_failures_total{" + down + ",class=\"TCP_REFUSED\"}"), 2);
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_count{" + ok + ",phase=\"total\"}"),
            Sample(page, "sonde_check_phase_duration_seconds_bucket{" + ok +
                             ",phase=\"total\",le=\"+Inf\"}"));
  EXPECT_GE(Sample(page, "sonde_check_phase_duration_seconds_count{" + ok + ",phase=\"total\"}"),
            2);
  EXPECT_EQ(Sample(page, "sonde_check_metrics_check_regions"), 2);
  EXPECT_NE(page.find("# TYPE sonde_incidents_open gauge"), std::string::npos);
  // The SLO engine's answer, refreshed off the scrape path (at start, then every minute).
  const std::string slo = "slo=\"web-ok-999\",check=\"web-ok\",service=\"\"";
  EXPECT_EQ(Sample(page, "sonde_slo_objective_ratio{" + slo + "}"), 0.999) << page;
  EXPECT_LE(Sample(page, "sonde_slo_error_budget_remaining_ratio{" + slo + "}"), 1) << page;
  EXPECT_NE(page.find("\nsonde_slo_error_budget_remaining_ratio{" + slo + "} "), std::string::npos)
      << page;
  EXPECT_EQ(Sample(page, "sonde_slo_refresh_failures_total"), 0) << page;

  // Both pages are valid exposition text without a single lint warning.
  std::string out;
  EXPECT_EQ(Promtool(scratch, "collector", page, &out), 0) << out;
  EXPECT_EQ(out, "") << "collector /metrics:\n" << out;
  std::string prober_page;
  ASSERT_TRUE(WaitUntil(
      [&] {
        prober_page = Page(prober.metrics_port());
        return Sample(prober_page, "sonde_prober_results_acked_total") > 0;
      },
      std::chrono::seconds(30)))
      << prober_page;
  EXPECT_GE(Sample(prober_page, "sonde_prober_failures_total{class=\"TCP_REFUSED\"}"), 2);
  EXPECT_GE(Sample(prober_page, "sonde_prober_loop_lag_seconds"), 0);
  EXPECT_GE(Sample(prober_page, "sonde_prober_backlog_results"), 0);
  EXPECT_EQ(Promtool(scratch, "prober", prober_page, &out), 0) << out;
  EXPECT_EQ(out, "") << "prober /metrics:\n" << out;

  // A check removed from the config loses its series on reload.
  std::ofstream(config + ".new") << Config(http_port, closed_port, false);
  ASSERT_EQ(std::rename((config + ".new").c_str(), config.c_str()), 0);
  collector.Reload();
  ASSERT_TRUE(WaitUntil(
      [&] {
        page = Page(collector.metrics_port());
        return Sample(page, "sonde_check_metrics_check_regions") == 1;
      },
      std::chrono::seconds(30)))
      << page;
  EXPECT_EQ(Sample(page, "sonde_check_up{" + down + "}"), -1);
  EXPECT_EQ(Sample(page, "sonde_check_up{" + ok + "}"), 1);

  if (HasFailure()) {
    scratch.Keep();
  }
  target.stop();
  target_thread.join();
}

}  // namespace
}  // namespace sonde
