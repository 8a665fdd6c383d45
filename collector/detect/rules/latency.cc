// LATENCY_DEGRADATION: the rolling p95 of a check's OK results left its own
// baseline (LatencyTracker) in min(latency_min_regions, half of the voting
// regions) regions. The incident names the phase whose mean moved most
// (dns, connect, tls, first byte), summed over the service's checks.
//
// Finding::values: the phase shifts (kPhaseCount), then the worst region's
// window p95 and its baseline p95, in microseconds.
#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/detect/evidence_text.h"
#include "collector/detect/rules/rule.h"

namespace sonde::detect::rules {
namespace {

constexpr size_t kP95 = kPhaseCount;
constexpr size_t kBaseline = kPhaseCount + 1;

class LatencyRule : public Rule {
 public:
  std::vector<KindInfo> Kinds() const override {
    return {{IncidentKind::kLatencyDegradation, "LATENCY_DEGRADATION", Severity::kPage}};
  }

  void Evaluate(const CheckView& v, std::vector<Finding>* out) const override {
    const DetectorOptions& o = v.options();
    const uint64_t voting = v.voting();
    const int n_voting = Popcount(voting);
    uint64_t slow = 0;
    for (size_t r = 0; r < v.region_count(); ++r) {
      if ((voting & (uint64_t{1} << r)) != 0 && v.series(r)->latency.degraded()) {
        slow |= uint64_t{1} << r;
      }
    }
    const int need = std::max(1, std::min(o.latency_min_regions, (n_voting + 1) / 2));
    if (n_voting == 0 || Popcount(slow) < need) {
      return;
    }
    Finding f;
    f.kind = IncidentKind::kLatencyDegradation;
    f.severity = Severity::kPage;
    f.regions = slow;
    f.values.assign(kPhaseCount + 2, 0.0);
    for (size_t r = 0; r < v.region_count(); ++r) {
      if ((slow & (uint64_t{1} << r)) == 0) {
        continue;
      }
      const LatencyTracker& lt = v.series(r)->latency;
      const std::array<double, kPhaseCount> shift = lt.PhaseShift();
      for (int p = 0; p < kPhaseCount; ++p) {
        f.values[p] += shift[p];
      }
      const double p = lt.ReportedPercentileUs(o.latency_percentile);
      if (p > f.values[kP95]) {
        f.values[kP95] = p;
        f.values[kBaseline] = lt.ReportedBaselineUs();
      }
    }
    out->push_back(std::move(f));
  }

  void Summarize(const FindingGroup& g, const DetectorOptions& o,
                 DesiredIncident* d) const override {
    std::array<double, kPhaseCount> shift{};
    for (const Finding* f : g.findings) {
      for (int p = 0; p < kPhaseCount; ++p) {
        shift[p] += f->values[p];
      }
      if (absl::Microseconds(f->values[kP95]) > d->latency_p95) {
        d->latency_p95 = absl::Microseconds(f->values[kP95]);
        d->latency_baseline_p95 = absl::Microseconds(f->values[kBaseline]);
      }
    }
    // Name the phase whose mean moved most.
    int best = 0;
    for (int p = 1; p < kPhaseCount; ++p) {
      if (shift[p] > shift[best]) {
        best = p;
      }
    }
    static constexpr LatencyPhase kPhases[kPhaseCount] = {
        LatencyPhase::kDns, LatencyPhase::kConnect, LatencyPhase::kTls, LatencyPhase::kFirstByte};
    d->latency_phase = shift[best] > 0 ? kPhases[best] : LatencyPhase::kNone;
    d->evidence = absl::StrCat(
        "p", static_cast<int>(std::lround(o.latency_percentile * 100)), " ",
        Millis(absl::ToDoubleMicroseconds(d->latency_p95)), " vs baseline ",
        Millis(absl::ToDoubleMicroseconds(d->latency_baseline_p95)), " in ",
        absl::StrJoin(d->regions, ", "), "; ", LatencyPhaseName(d->latency_phase), " moved most (+",
        Millis(shift[best] / std::max(1, g.n_checks)), " mean)", MoreChecks(g));
  }
};

}  // namespace

std::unique_ptr<Rule> NewLatencyRule() { return std::make_unique<LatencyRule>(); }

}  // namespace sonde::detect::rules
