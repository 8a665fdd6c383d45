// CheckMetrics: what the per check x region series say after batches, that
// the config bounds them (a removed check's series go on SetConfig), the cap
// and its counter, and the certificate gauges.
#include "collector/metrics/check_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "collector/storage/latency_buckets.h"
#include "common/proto_time.h"

namespace sonde::collector {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

v1::ProbeResult Result(const std::string& check, const std::string& region, int seconds,
                       v1::FailureClass::Code cls, uint32_t total_us) {
  v1::ProbeResult r;
  r.set_check_id(check);
  r.set_region(region);
  common::SetTimestamp(kT0 + absl::Seconds(seconds), r.mutable_start_time());
  r.set_failure_class(cls);
  r.set_ok(cls == v1::FailureClass::OK);
  r.set_total_us(total_us);
  return r;
}

v1::ResultBatch Batch(std::initializer_list<v1::ProbeResult> results) {
  v1::ResultBatch b;
  for (const v1::ProbeResult& r : results) {
    *b.add_results() = r;
  }
  return b;
}

v1::Config TwoChecks() {
  v1::Config c;
  c.add_regions("fra");
  c.add_regions("ams");
  c.add_checks()->set_name("api");
  v1::Check* web = c.add_checks();
  web->set_name("web");
  web->add_regions("fra");  // web runs in fra only
  return c;
}

std::string Render(const CheckMetrics& m, absl::Time now = kT0) {
  common::MetricsText out;
  m.AppendTo(now, &out);
  return out.text();
}

// The value of the sample line `series`, or -1 when absent.
double Sample(const std::string& page, const std::string& series) {
  const std::string head = "\n" + series + " ";
  const size_t at = page.find(head);
  return at == std::string::npos ? -1 : std::stod(page.substr(at + head.size()));
}

TEST(CheckMetricsTest, CountsUpStateFailuresAndPhaseHistogram) {
  CheckMetrics m;
  m.SetConfig(TwoChecks());
  v1::ProbeResult slow = Result("api", "fra", 2, v1::FailureClass::OK, 300'000);
  slow.set_dns_us(4'000);
  // The newest result decides `up`, whatever order the batches arrive in.
  m.Observe(Batch({Result("api", "fra", 1, v1::FailureClass::TCP_REFUSED, 20'000), slow}));
  m.Observe(Batch({Result("api", "fra", 0, v1::FailureClass::TCP_REFUSED, 7'000)}));
  // The prober's own fault: counted by class, never against the target.
  m.Observe(Batch({Result("api", "fra", 3, v1::FailureClass::PROBER_ERROR, 9'000'000)}));
  const std::string page = Render(m);
  const std::string k = "check=\"api\",region=\"fra\"";
  EXPECT_EQ(Sample(page, "sonde_check_up{" + k + "}"), 1);
  EXPECT_EQ(Sample(page, "sonde_check_last_result_timestamp_seconds{" + k + "}"),
            absl::ToUnixSeconds(kT0) + 2);
  EXPECT_EQ(Sample(page, "sonde_check_probes_total{" + k + "}"), 3);
  EXPECT_EQ(Sample(page, "sonde_check_probe_successes_total{" + k + "}"), 1);
  EXPECT_EQ(Sample(page, "sonde_check_failures_total{" + k + ",class=\"TCP_REFUSED\"}"), 2);
  EXPECT_EQ(Sample(page, "sonde_check_failures_total{" + k + ",class=\"PROBER_ERROR\"}"), 1);
  // total: 7 ms, 20 ms, 300 ms -> cumulative buckets.
  const std::string t = k + ",phase=\"total\"";
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_bucket{" + t + ",le=\"0.005\"}"), 0);
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_bucket{" + t + ",le=\"0.01\"}"), 1);
  // A bound is inclusive (value <= le): 20 ms falls in le="0.02".
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_bucket{" + t + ",le=\"0.02\"}"), 2);
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_bucket{" + t + ",le=\"0.05\"}"), 2);
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_bucket{" + t + ",le=\"0.2\"}"), 2);
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_bucket{" + t + ",le=\"0.5\"}"), 3);
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_bucket{" + t + ",le=\"+Inf\"}"), 3);
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_count{" + t + "}"), 3);
  EXPECT_NEAR(Sample(page, "sonde_check_phase_duration_seconds_sum{" + t + "}"), 0.327, 1e-9);
  // A phase appears once measured: dns once, tls never.
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_count{" + k + ",phase=\"dns\"}"), 1);
  EXPECT_EQ(Sample(page, "sonde_check_phase_duration_seconds_count{" + k + ",phase=\"tls\"}"), -1);
  // No certificate seen: no certificate sample.
  EXPECT_EQ(page.find("sonde_check_cert_expiry_timestamp_seconds{"), std::string::npos);
}

// Prometheus' buckets are a subset of the rollups' bounds, phases the same
// names in the same order: percentiles from either side agree at the bounds.
TEST(CheckMetricsTest, BucketsAndPhasesAreTheRollups) {
  for (double le : kLatencyBuckets) {
    const int64_t us = static_cast<int64_t>(le * 1e6 + 0.5);
    EXPECT_NE(std::find(kLatencyBoundsUs.begin(), kLatencyBoundsUs.end(), us),
              kLatencyBoundsUs.end())
        << le << " s is not a rollup bound";
  }
  ASSERT_EQ(kLatencyPhases.size(), static_cast<size_t>(kPhaseCount));
  for (int p = 0; p < kPhaseCount; ++p) {
    EXPECT_STREQ(kLatencyPhases[p], PhaseName(static_cast<Phase>(p)));
  }
}

TEST(CheckMetricsTest, OnlyConfiguredPairsAndARemovedCheckDisappears) {
  CheckMetrics m;
  m.SetConfig(TwoChecks());
  m.Observe(Batch({Result("api", "ams", 0, v1::FailureClass::OK, 1000),
                   Result("web", "fra", 0, v1::FailureClass::OK, 1000),
                   Result("web", "ams", 0, v1::FailureClass::OK, 1000),  // web is fra only
                   Result("gone", "fra", 0, v1::FailureClass::OK, 1000)}));
  std::string page = Render(m);
  EXPECT_EQ(m.check_regions(), 2u);
  EXPECT_EQ(Sample(page, "sonde_check_up{check=\"web\",region=\"ams\"}"), -1);
  EXPECT_EQ(Sample(page, "sonde_check_metrics_dropped_results_total{reason=\"unconfigured\"}"), 2);

  v1::Config without_web = TwoChecks();
  without_web.mutable_checks()->RemoveLast();
  m.SetConfig(without_web);
  page = Render(m);
  EXPECT_EQ(m.check_regions(), 1u);
  EXPECT_EQ(Sample(page, "sonde_check_up{check=\"web\",region=\"fra\"}"), -1);
  EXPECT_EQ(Sample(page, "sonde_check_up{check=\"api\",region=\"ams\"}"), 1);
  EXPECT_EQ(Sample(page, "sonde_check_metrics_check_regions"), 1);
}

TEST(CheckMetricsTest, TheCapHoldsAndCountsWhatItDropped) {
  CheckMetrics m(/*max_check_regions=*/2);  // no config: every pair is admitted
  for (int i = 0; i < 5; ++i) {
    m.Observe(Batch({Result(absl::StrCat("c", i), "fra", 0, v1::FailureClass::OK, 1000),
                     Result(absl::StrCat("c", i), "fra", 1, v1::FailureClass::OK, 1000)}));
  }
  const std::string page = Render(m);
  EXPECT_EQ(m.check_regions(), 2u);
  EXPECT_EQ(Sample(page, "sonde_check_probes_total{check=\"c1\",region=\"fra\"}"), 2);
  EXPECT_EQ(Sample(page, "sonde_check_probes_total{check=\"c2\",region=\"fra\"}"), -1);
  EXPECT_EQ(Sample(page, "sonde_check_metrics_dropped_results_total{reason=\"limit\"}"), 6);
  EXPECT_EQ(Sample(page, "sonde_check_metrics_check_regions_limit"), 2);
}

TEST(CheckMetricsTest, CertificateExpiryFromTheNewestResultWithOne) {
  CheckMetrics m;
  v1::ProbeResult older = Result("api", "fra", 0, v1::FailureClass::OK, 1000);
  older.set_cert_not_after("2027-01-01T00:00:00Z");
  v1::ProbeResult newer = Result("api", "fra", 5, v1::FailureClass::OK, 1000);
  newer.set_cert_not_after("2027-03-01T00:00:00Z");
  newer.set_chain_not_after("2027-02-01T00:00:00Z");  // the chain expires first
  v1::ProbeResult plain = Result("api", "fra", 9, v1::FailureClass::OK, 1000);  // no cert
  m.Observe(Batch({newer, older, plain}));
  absl::Time expiry;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2027-02-01T00:00:00Z", &expiry, &err));
  const absl::Time now = expiry - absl::Hours(24 * 10);
  const std::string page = Render(m, now);
  const std::string k = "check=\"api\",region=\"fra\"";
  EXPECT_EQ(Sample(page, "sonde_check_cert_expiry_timestamp_seconds{" + k + "}"),
            absl::ToUnixSeconds(expiry));
  EXPECT_EQ(Sample(page, "sonde_check_cert_expiry_remaining_seconds{" + k + "}"), 10 * 86400);
}

// The expiry follows the newest result's certificate as it changes, and back
// (the text last parsed is remembered, not the first one).
TEST(CheckMetricsTest, CertificateExpiryFollowsChangesAndBack) {
  CheckMetrics m;
  const char* texts[] = {"2027-01-01T00:00:00Z", "2027-03-01T00:00:00Z", "2027-01-01T00:00:00Z",
                         "not a time"};
  for (int i = 0; i < 4; ++i) {
    v1::ProbeResult r = Result("api", "fra", i, v1::FailureClass::OK, 1000);
    r.set_cert_not_after(texts[i]);
    m.Observe(Batch({r}));
    absl::Time want;
    std::string err;
    ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, texts[i < 3 ? i : 2], &want, &err));
    EXPECT_EQ(Sample(Render(m),
                     "sonde_check_cert_expiry_timestamp_seconds{check=\"api\",region=\"fra\"}"),
              absl::ToUnixSeconds(want))
        << i;
  }
}

}  // namespace
}  // namespace sonde::collector
