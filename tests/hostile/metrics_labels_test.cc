// Hostile label values: the collector's per-check series take check and
// region names from results, which a prober without a central config names
// as it likes. Quotes, backslashes, newlines, invalid UTF-8 and NUL bytes
// must neither break the page nor forge a sample: Prometheus' own parser
// (`promtool check metrics`) accepts the page and sees the escaped value.
// The SLO family's names (from the config) go through the same escaper.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "collector/metrics/check_metrics.h"
#include "collector/metrics/slo_gauges.h"
#include "common/metrics.h"
#include "tests/testing/process.h"

namespace sonde::collector {
namespace {

TEST(HostileMetricsLabelsTest, EscapedValuesPassPromtoolAndForgeNoSample) {
  const std::string hostile[] = {
      "a\"b",
      "back\\slash\\",
      "line\nsonde_check_up{check=\"forged\",region=\"x\"} 1",
      std::string("nul\0byte", 8),
      "bad\xff\xfe utf8",
      "} 1\n# TYPE x counter",
  };
  CheckMetrics m;  // no config: the names come from the results
  v1::ResultBatch batch;
  for (const std::string& name : hostile) {
    v1::ProbeResult* r = batch.add_results();
    r->set_check_id(name);
    r->set_region(name);
    r->set_failure_class(v1::FailureClass::HTTP_STATUS);
    r->set_total_us(1000);
    r->mutable_start_time()->set_seconds(1'800'000'000);
    r->set_cert_not_after("2027-02-01T00:00:00Z");
  }
  m.Observe(batch);
  // SLO names come from the config; escaped the same way.
  SloGauges slos;
  slos.Set({{hostile[0], hostile[1], "", 0.999, 0.5}, {hostile[2], "", hostile[4], 0.99, -0.25}});
  common::MetricsText out;
  m.AppendTo(absl::FromUnixSeconds(1'800'000'000), &out);
  slos.AppendTo(&out);
  const std::string& page = out.text();

  // Every sample line of sonde_check_up belongs to one hostile pair; none forged.
  int up_lines = 0;
  for (size_t at = page.find("\nsonde_check_up{"); at != std::string::npos;
       at = page.find("\nsonde_check_up{", at + 1)) {
    ++up_lines;
  }
  EXPECT_EQ(up_lines, 6) << page;
  EXPECT_EQ(page.find("check=\"forged\""), std::string::npos) << page;
  EXPECT_NE(page.find("check=\"a\\\"b\""), std::string::npos) << page;
  EXPECT_NE(page.find("check=\"back\\\\slash\\\\\""), std::string::npos) << page;
  EXPECT_NE(page.find("check=\"line\\nsonde_check_up{"), std::string::npos) << page;
  EXPECT_NE(page.find("sonde_check_cert_expiry_timestamp_seconds{check=\"a\\\"b\""),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("sonde_slo_error_budget_remaining_ratio{slo=\"line\\nsonde_check_up"),
            std::string::npos)
      << page;

  char dir[] = "/tmp/sonde-hostile-metrics.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/page.metrics");
  std::ofstream(path) << page;
  std::string promtool_out;
  const int rc = testing::RunCommand(
      {"/bin/sh", "-c", absl::StrCat("promtool check metrics < '", path, "'")}, &promtool_out);
  EXPECT_EQ(rc, 0) << promtool_out << "\n" << page;
  EXPECT_EQ(promtool_out, "") << page;
  if (!HasFailure()) {
    std::remove(path.c_str());
    rmdir(dir);
  }
}

}  // namespace
}  // namespace sonde::collector
