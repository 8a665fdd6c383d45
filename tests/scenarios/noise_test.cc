// The negative story: 1% of all HTTP requests fail at random, in every
// region, for 10 minutes (SONDE_NOISE_MINUTES overrides). Real networks do
// this; Sonde must open no incident and page nobody. The failures are
// drawn independently per request (faultd fail_seed), so they come in
// bursts and gaps, not evenly spaced.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/scenarios/scenario_harness.h"
#include "tests/testing/status_matchers.h"

namespace sonde::scenarios {
namespace {

int NoiseMinutes() {
  int minutes = 10;
  if (const char* s = std::getenv("SONDE_NOISE_MINUTES"); s != nullptr) {
    int v = 0;
    if (absl::SimpleAtoi(s, &v) && v > 0) {
      minutes = v;
    }
  }
  return minutes;
}

class NoiseTest : public ::testing::Test {
 protected:
  void TearDown() override { scenario_.DumpOnFailure(); }
  Scenario scenario_{"noise"};
};

TEST_F(NoiseTest, OnePercentRandomFailuresEverywhereOpenNothingAndPageNobody) {
  Scenario& s = scenario_;
  const std::string zone =
      R"({"id":"zone","listener":"dns","name":"*.noise.test","records":[{"type":"A","data":"127.0.0.1","ttl":60}]})";
  FaultTarget::Options fo;
  fo.rules_json = absl::StrCat("[", zone, "]");
  ASSERT_OK(s.StartTargets(fo));
  const int http = s.faultd().port("http");
  const std::string dns = s.faultd().resolver();
  ScenarioConfig c;
  // 4 services x 3 checks, 3 requests per run (docs/detection.md: several
  // requests per run keep a noisy check's first failures from looking like
  // an outage).
  for (const char* service : {"shop", "api", "auth", "cdn"}) {
    for (const char* path : {"", "login", "health"}) {
      c.Check(absl::StrCat("{name: ", service, "-", path[0] == '\0' ? "home" : path, ", service: ",
                           service, ", http: {url: 'http://", service, ".noise.test:", http, "/",
                           path, "', resolvers: ['", dns, "'], requests_per_run: 3}}"));
    }
  }
  c.Notifier(absl::StrCat("{name: oncall, webhook: {url: '", s.webhook().Url("/hook"),
                          "', secret: ", Scenario::kWebhookSecret, "}, repeat_every: 1m}"));
  ASSERT_OK(s.StartSonde(c));

  ASSERT_OK_AND_ASSIGN(
      const absl::Time noise_on,
      s.faultd().PutRules(
          absl::StrCat("[", R"({"id":"noise","listener":"http","fail_share":0.01,"fail_seed":1})",
                       ",", zone, "]")));
  const absl::Time end = noise_on + absl::Minutes(NoiseMinutes());
  // Watch all along, so a transient incident is reported when it happens.
  while (absl::Now() < end) {
    absl::SleepFor(std::min(absl::Seconds(15), end - absl::Now()));
    std::vector<IncidentRow> incidents = s.Incidents();
    ASSERT_TRUE(incidents.empty())
        << "after " << Secs(absl::Now() - noise_on) << " s of 1% noise:\n"
        << s.DescribeIncidents();
  }
  // Let the last results through the reorder window and the dispatcher.
  absl::SleepFor(absl::Seconds(5));

  // The world: about 1% of the probes failed (HTTP 503), in every region.
  const std::string since = PgTime(noise_on + absl::Seconds(1));
  const int64_t all =
      s.Int(absl::StrCat("SELECT count(*) FROM results WHERE started_at > ", since));
  const int64_t failed =
      s.Int(absl::StrCat("SELECT count(*) FROM results WHERE NOT ok AND started_at > ", since));
  ASSERT_GT(all, 1000);
  const double share = static_cast<double>(failed) / all;
  std::cout << "[ noise ] " << failed << " of " << all << " probes failed (" << 100 * share
            << "%) over " << NoiseMinutes() << " min" << std::endl;
  EXPECT_GT(share, 0.004);
  EXPECT_LT(share, 0.02);
  EXPECT_EQ(s.Int(absl::StrCat("SELECT count(DISTINCT region) FROM results WHERE NOT ok AND"
                               " started_at > ",
                               since)),
            3);
  EXPECT_EQ(s.Int(absl::StrCat("SELECT count(*) FROM results WHERE NOT ok AND failure_class <>"
                               " 'HTTP_STATUS' AND started_at > ",
                               since)),
            0)
      << "only the injected 503s may fail";

  EXPECT_TRUE(s.Incidents().empty()) << s.DescribeIncidents();
  EXPECT_EQ(s.Int("SELECT count(*) FROM outbox"), 0) << s.DescribeIncidents();
  EXPECT_TRUE(s.webhook().deliveries().empty()) << s.webhook().Describe();
}

}  // namespace
}  // namespace sonde::scenarios
