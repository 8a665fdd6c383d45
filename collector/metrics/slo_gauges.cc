#include "collector/metrics/slo_gauges.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {

namespace {

// Percent as a ratio, without the binary noise of the division
// (99.9 / 100 is 0.9990000000000001; the page says 0.999).
double Ratio(double percent) { return std::round(percent * 1e10) / 1e12; }

}  // namespace

std::vector<SloBudget> SloBudgetsFrom(const v1::SloReply& reply) {
  std::vector<SloBudget> out;
  for (const v1::SloStatus& s : reply.slos()) {
    out.push_back({s.spec().name(), s.spec().check(), s.spec().service(),
                   Ratio(s.spec().target_percent()), Ratio(s.budget_remaining_percent())});
  }
  return out;
}

SloGauges::~SloGauges() { Stop(); }

void SloGauges::Set(std::vector<SloBudget> budgets) {
  absl::MutexLock lock(&mu_);
  budgets_ = std::move(budgets);
}

void SloGauges::StartRefresh(Source source, absl::Duration period) {
  source_ = std::move(source);
  loop_.Start([this, period] {
    Refresh();
    return period;
  });
}

void SloGauges::Stop() { loop_.Stop(); }

void SloGauges::Refresh() {
  absl::StatusOr<std::vector<SloBudget>> budgets = source_();
  if (!budgets.ok()) {
    refresh_failures_.fetch_add(1);
    spdlog::warn("SLO metrics: keeping the previous values: {}",
                 std::string(budgets.status().message()));
    return;
  }
  Set(*std::move(budgets));
}

void SloGauges::AppendTo(common::MetricsText* out) const {
  absl::MutexLock lock(&mu_);
  auto labels = [](const SloBudget& b) {
    return absl::StrCat(common::Label("slo", b.name), ",", common::Label("check", b.check), ",",
                        common::Label("service", b.service));
  };
  out->Family("sonde_slo_objective_ratio", "gauge",
              "The SLO's target as a ratio (99.9 % is 0.999).");
  for (const SloBudget& b : budgets_) {
    out->Sample("sonde_slo_objective_ratio", labels(b), b.objective_ratio);
  }
  out->Family("sonde_slo_error_budget_remaining_ratio", "gauge",
              "Share of the SLO's error budget left over its window: 1 untouched, 0 spent, "
              "negative when overspent.");
  for (const SloBudget& b : budgets_) {
    out->Sample("sonde_slo_error_budget_remaining_ratio", labels(b), b.budget_remaining_ratio);
  }
  out->Add("sonde_slo_refresh_failures_total", "counter",
           "SLO computations for /metrics that failed (the previous values stay).",
           refresh_failures_.load());
}

}  // namespace sonde::collector
