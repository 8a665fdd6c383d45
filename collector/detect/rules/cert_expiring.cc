// CERT_EXPIRING (ticket): the certificate a TLS or HTTPS check is served
// expires within the check's min_days_valid (tls.min_days_valid or
// http.min_days_valid; 0 reads as 14 days) as seen from a strict majority
// of the voting regions that reported a certificate recently (within
// stale_intervals intervals). The days left are the leaf's as the probe
// counted them, or the chain's when an intermediate expires first. The
// evidence names the earliest not_after and the days left. A renewed
// certificate seen by the majority clears it (resolved after resolve_hold).
//
// An expired certificate is not "expiring": it fails the probe
// (TLS_CERT_EXPIRED) and stays an outage kind; this rule ignores it. Not an
// availability kind, so it never reclassifies an outage or is reclassified.
//
// Finding::values: the earliest not_after (Unix seconds), the fewest days
// left.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "collector/detect/rules/rule.h"

namespace sonde::detect::rules {
namespace {

constexpr char kName[] = "CERT_EXPIRING";
constexpr uint32_t kDefaultMinDaysValid = 14;
constexpr int64_t kDayUs = int64_t{86400} * 1'000'000;

uint32_t MinDaysValid(const v1::Check& check) {
  uint32_t days = 0;
  if (check.has_tls()) {
    days = check.tls().min_days_valid();
  } else if (check.has_http()) {
    days = check.http().min_days_valid();
  }
  return days > 0 ? days : kDefaultMinDaysValid;
}

class CertExpiringRule : public Rule {
 public:
  std::vector<KindInfo> Kinds() const override {
    return {{IncidentKind::kUnassigned, kName, Severity::kTicket}};
  }

  void Evaluate(const CheckView& v, std::vector<Finding>* out) const override {
    const CheckState& c = v.check();
    if (!c.config.has_tls() && !c.config.has_http()) {
      return;
    }
    const int64_t min_days = MinDaysValid(c.config);
    const int64_t recent = v.now() - v.options().stale_intervals * c.interval_us;
    uint64_t reporting = 0;
    uint64_t expiring = 0;
    int64_t earliest = std::numeric_limits<int64_t>::max();
    int64_t fewest_days = std::numeric_limits<int64_t>::max();
    for (size_t r = 0; r < v.region_count(); ++r) {
      const uint64_t bit = uint64_t{1} << r;
      const Series* s = v.series(r);
      if ((v.voting() & bit) == 0 || !s->cert.seen() || s->cert.seen_us < recent) {
        continue;
      }
      reporting |= bit;
      const Certificate& cert = s->cert;
      const int64_t expiry = std::min(cert.not_after_us, cert.chain_not_after_us);
      const int64_t days = cert.chain_not_after_us < cert.not_after_us
                               ? FloorDiv(expiry - cert.seen_us, kDayUs)
                               : cert.days_left;
      if (expiry <= cert.seen_us || days < 0 || days >= min_days) {
        continue;  // expired (an outage, not this) or far enough away
      }
      expiring |= bit;
      earliest = std::min(earliest, expiry);
      fewest_days = std::min(fewest_days, days);
    }
    if (expiring == 0 || 2 * Popcount(expiring) <= Popcount(reporting)) {
      return;
    }
    static const IncidentKind kind = *IncidentKindNamed(kName);
    Finding f;
    f.kind = kind;
    f.severity = Severity::kTicket;
    f.regions = expiring;
    f.values = {static_cast<double>(FloorDiv(earliest, 1'000'000)),
                static_cast<double>(fewest_days)};
    f.evidence = absl::StrCat(
        "certificate of ", c.target.host, ":", c.target.port, " expires ",
        absl::FormatTime(absl::RFC3339_sec, TimeOf(earliest), absl::UTCTimeZone()), " (",
        fewest_days, " days left, minimum ", min_days, ") in ", v.RegionList(expiring));
    out->push_back(std::move(f));
  }

  void Summarize(const FindingGroup& g, const DetectorOptions&, DesiredIncident* d) const override {
    // The check whose certificate expires first speaks for the service.
    const Finding* first = g.findings.front();
    for (const Finding* f : g.findings) {
      if (f->values[0] < first->values[0]) {
        first = f;
      }
    }
    d->failing_share = 0;
    d->evidence = absl::StrCat(first->evidence, MoreChecks(g));
  }
};

}  // namespace

std::unique_ptr<Rule> NewCertExpiringRule() { return std::make_unique<CertExpiringRule>(); }

}  // namespace sonde::detect::rules
