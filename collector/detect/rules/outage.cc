// Outages: a check DOWN (and confirmed) in at least one voting region.
//   GLOBAL_OUTAGE    DOWN in a strict majority of >= global_min_regions
//                    voting regions
//   REGIONAL_OUTAGE  DOWN in some regions, not a majority
//   DNS_FAILURE      >= dns_share of the failures are DNS_* (names the
//                    rcode, the resolvers and what the last known address
//                    answered)
//   PROTOCOL_OUTAGE  another protocol of the same host answers in the
//                    regions where this one is down (HTTPS down, HTTP up)
// GLOBAL and REGIONAL are two scopes of one outage: one incident per
// service, GLOBAL when any of its checks is down in a majority.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/detect/evidence_text.h"
#include "collector/detect/rules/rule.h"

namespace sonde::detect::rules {
namespace {

class OutageRule : public Rule {
 public:
  std::vector<KindInfo> Kinds() const override {
    KindInfo global{IncidentKind::kGlobalOutage, "GLOBAL_OUTAGE", Severity::kPage, true};
    global.group_with = IncidentKind::kRegionalOutage;
    KindInfo protocol{IncidentKind::kProtocolOutage, "PROTOCOL_OUTAGE", Severity::kPage, true};
    protocol.per_protocol = true;
    return {global,
            {IncidentKind::kRegionalOutage, "REGIONAL_OUTAGE", Severity::kPage, true},
            {IncidentKind::kDnsFailure, "DNS_FAILURE", Severity::kPage, true},
            protocol};
  }

  void Evaluate(const CheckView& v, std::vector<Finding>* out) const override {
    const uint64_t outage = v.outage();
    if (outage == 0) {
      return;
    }
    const DetectorOptions& o = v.options();
    const CheckState& c = v.check();
    const int n_voting = Popcount(v.voting());
    const int n_outage = Popcount(outage);
    Finding f;
    f.severity = Severity::kPage;
    f.regions = outage;
    f.kind = n_voting >= o.global_min_regions && 2 * n_outage > n_voting
                 ? IncidentKind::kGlobalOutage
                 : IncidentKind::kRegionalOutage;
    double dns_share = 0;
    v.ClassStats(outage, /*episode=*/true, &f.dominant_class, &f.class_count, &dns_share);
    f.share = 1.0;
    const Series* ev = v.EvidenceSeries(outage, f.dominant_class);
    const std::string detail = ev != nullptr ? ev->detail : std::string();
    std::string answering;
    if (f.class_count > 0 && dns_share >= o.dns_share) {
      f.kind = IncidentKind::kDnsFailure;
      f.evidence = absl::StrCat(Rcode(f.dominant_class), " for ", c.target.host, " from resolvers ",
                                c.resolvers_text, " in ", v.RegionList(outage));
      if (ev != nullptr && !ev->fallback_address.empty()) {
        absl::StrAppend(
            &f.evidence, "; ",
            FallbackText(ev->fallback_address, ev->fallback_class, ev->fallback_http_status));
      } else if (!detail.empty()) {
        absl::StrAppend(&f.evidence, "; ", detail);
      }
    } else if (!(answering = v.AnsweringProtocols(outage)).empty()) {
      f.kind = IncidentKind::kProtocolOutage;
      f.evidence = absl::StrCat(c.target.protocol, " of ", c.target.host, " fails (",
                                ClassName(f.dominant_class), ") in ", v.RegionList(outage),
                                " while ", answering, " answers");
      if (!detail.empty()) {
        absl::StrAppend(&f.evidence, "; ", detail);
      }
    } else {
      f.evidence = absl::StrCat(ClassName(f.dominant_class), " from ", v.RegionList(outage));
      if (!detail.empty()) {
        absl::StrAppend(&f.evidence, ": ", detail);
      }
    }
    out->push_back(std::move(f));
  }

  void Summarize(const FindingGroup& group, const DetectorOptions&,
                 DesiredIncident* incident) const override {
    for (IncidentKind k : group.kinds) {
      if (k == IncidentKind::kGlobalOutage) {
        incident->kind = IncidentKind::kGlobalOutage;
      }
    }
    SummarizeFailures(group, incident);
  }
};

}  // namespace

std::unique_ptr<Rule> NewOutageRule() { return std::make_unique<OutageRule>(); }

}  // namespace sonde::detect::rules
