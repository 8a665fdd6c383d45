// SloGauges: the SLO families as a cache a refresh thread fills; a failed
// refresh keeps the previous values and is counted.
#include "collector/metrics/slo_gauges.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sonde::collector {
namespace {

std::string Render(const SloGauges& g) {
  common::MetricsText out;
  g.AppendTo(&out);
  return out.text();
}

TEST(SloGaugesTest, DescribedEmptyThenFilledByTheRefreshAndKeptOnFailure) {
  SloGauges g;
  std::string page = Render(g);
  EXPECT_NE(page.find("# TYPE sonde_slo_error_budget_remaining_ratio gauge"), std::string::npos);
  EXPECT_EQ(page.find("sonde_slo_error_budget_remaining_ratio{"), std::string::npos);

  std::atomic<int> calls{0};
  g.StartRefresh(
      [&calls]() -> absl::StatusOr<std::vector<SloBudget>> {
        if (calls.fetch_add(1) > 0) {
          return absl::UnavailableError("database down");
        }
        return std::vector<SloBudget>{{"api-99.9", "", "api", 0.999, 0.25}};
      },
      absl::Milliseconds(10));
  for (int i = 0; i < 500 && calls.load() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  g.Stop();
  ASSERT_GE(calls.load(), 3);
  page = Render(g);
  EXPECT_NE(page.find("sonde_slo_objective_ratio{slo=\"api-99.9\",check=\"\",service=\"api\"} "
                      "0.999\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("sonde_slo_error_budget_remaining_ratio{slo=\"api-99.9\",check=\"\","
                      "service=\"api\"} 0.25\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find(absl::StrCat("sonde_slo_refresh_failures_total ", calls.load() - 1, "\n")),
            std::string::npos)
      << page;
}

TEST(SloGaugesTest, BudgetsFromTheQueryAnswerArePercentsAsRatios) {
  v1::SloReply reply;
  v1::SloStatus* s = reply.add_slos();
  s->mutable_spec()->set_name("checkout");
  s->mutable_spec()->set_service("shop");
  s->mutable_spec()->set_target_percent(99.9);
  s->set_budget_remaining_percent(-20);
  const std::vector<SloBudget> b = SloBudgetsFrom(reply);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].name, "checkout");
  EXPECT_EQ(b[0].service, "shop");
  EXPECT_EQ(b[0].check, "");
  EXPECT_EQ(b[0].objective_ratio, 0.999);  // exactly: the page shows 0.999
  EXPECT_EQ(b[0].budget_remaining_ratio, -0.2);
}

}  // namespace
}  // namespace sonde::collector
