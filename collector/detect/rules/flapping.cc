// FLAPPING: the check's state keeps changing in some reporting region
// (FlapDetector: weighted percent state change, enter >= 30%, leave
// <= 20%). A ticket beside the outage incidents: flapping never
// suppresses a page.
#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "collector/detect/rules/rule.h"

namespace sonde::detect::rules {
namespace {

class FlappingRule : public Rule {
 public:
  std::vector<KindInfo> Kinds() const override {
    return {{IncidentKind::kFlapping, "FLAPPING", Severity::kTicket}};
  }

  void Evaluate(const CheckView& v, std::vector<Finding>* out) const override {
    Finding f;
    f.kind = IncidentKind::kFlapping;
    f.severity = Severity::kTicket;
    for (size_t r = 0; r < v.region_count(); ++r) {
      const Series* s = v.series(r);
      if (s != nullptr && s->Live() && s->flap.flapping()) {
        f.regions |= uint64_t{1} << r;
        f.share = std::max(f.share, s->flap.percent());
      }
    }
    if (f.regions != 0) {
      out->push_back(std::move(f));
    }
  }

  void Summarize(const FindingGroup& g, const DetectorOptions& o,
                 DesiredIncident* d) const override {
    d->failing_share = 0;
    d->evidence =
        absl::StrFormat("state changed %.0f%% over the last %d samples in %s%s", g.max_share,
                        o.flap_history, absl::StrJoin(d->regions, ", "), MoreChecks(g));
  }
};

}  // namespace

std::unique_ptr<Rule> NewFlappingRule() { return std::make_unique<FlappingRule>(); }

}  // namespace sonde::detect::rules
