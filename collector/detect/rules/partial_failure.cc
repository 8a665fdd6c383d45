// PARTIAL_FAILURE: no voting region is DOWN, but a share of the probes
// fail -- the Boxcryptor case. Any of:
//   fast rule  >= partial_fast_share of >= partial_fast_min_probes probes
//              (pooled over the voting regions) in the last
//              partial_fast_window, with failures seen in
//              min(partial_min_regions, voting regions) regions (page)
//   slow rule  the same over partial_window, still failing in its last third
//              (CheckState::slow_regions, decided at minute boundaries; page)
//   burn rate  the SLO burn-rate rules (CheckState::burn_page/burn_ticket,
//              decided at minute boundaries; page or ticket)
// When >= dns_share of the failures are DNS_*, the kind is DNS_FAILURE.
// The reported share is the larger of the share since the failures began in
// the short window and in the slow window, over the regions named, in whole
// percent; the evidence gives its counts, then the firing rule's own.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collector/detect/evidence_text.h"
#include "collector/detect/rules/rule.h"

namespace sonde::detect::rules {
namespace {

class PartialFailureRule : public Rule {
 public:
  std::vector<KindInfo> Kinds() const override {
    return {{IncidentKind::kPartialFailure, "PARTIAL_FAILURE", Severity::kPage, true}};
  }

  void Evaluate(const CheckView& v, std::vector<Finding>* out) const override {
    const uint64_t voting = v.voting();
    const int n_voting = Popcount(voting);
    if (v.outage() != 0 || n_voting == 0) {
      return;
    }
    const DetectorOptions& o = v.options();
    const CheckState& c = v.check();
    const int need = std::min(o.partial_min_regions, n_voting);
    const int64_t bucket = v.fast_bucket();
    uint64_t fast = 0;
    Counts fast_sum;
    for (size_t r = 0; r < v.region_count(); ++r) {
      if (!(voting & (uint64_t{1} << r))) {
        continue;
      }
      Series& s = *v.series(r);
      const Counts w = s.fast.Sum(bucket);
      fast_sum += w;
      // A region takes part when it sees failures of its own (two, at half
      // the share): one stray failure elsewhere does not make a one-region
      // problem a partial failure across regions.
      if (w.fails >= 2 && w.fails >= o.partial_fast_share / 2 * w.probes) {
        fast |= uint64_t{1} << r;
      }
    }
    // The share test runs on the pooled counts: three regions' evidence
    // together crosses the threshold sooner, and is far less likely to be
    // noise, than each region's alone (docs/detection.md).
    const uint64_t slow = c.slow_regions & voting;
    const bool fast_rule = Popcount(fast) >= need &&
                           fast_sum.probes >= static_cast<uint32_t>(o.partial_fast_min_probes) &&
                           fast_sum.fails >= static_cast<uint32_t>(o.partial_fast_min_failures) &&
                           fast_sum.fails >= o.partial_fast_share * fast_sum.probes;
    const bool slow_rule = Popcount(slow) >= need;
    const bool burn = c.burn_page || c.burn_ticket;
    if (!fast_rule && !slow_rule && !burn) {
      return;
    }
    Finding f;
    f.kind = IncidentKind::kPartialFailure;
    f.severity = fast_rule || slow_rule || c.burn_page ? Severity::kPage : Severity::kTicket;
    // The regions that see failures (not only those over a threshold right
    // now: at 20% the per-region verdicts flicker).
    uint64_t where = 0;
    for (size_t r = 0; r < v.region_count(); ++r) {
      if (!(voting & (uint64_t{1} << r))) {
        continue;
      }
      Series& s = *v.series(r);
      if (s.partial.WithCurrent(s.minute_partial).fails > 0 || s.fast.Sum(bucket).fails > 0) {
        where |= uint64_t{1} << r;
      }
    }
    if (where == 0) {
      where = voting;
    }
    f.regions = where;
    // The share reported is over the regions the evidence names ("30% of
    // probes failing in ams, ber" is 30% in those two, not diluted by a
    // healthy third region's probes), and since each started failing.
    Counts trimmed;
    Counts slow_sum;  // the rule's own numbers (evidence)
    Counts since;     // the slow window from its first failing minute
    for (size_t r = 0; r < v.region_count(); ++r) {
      if (where & (uint64_t{1} << r)) {
        Series& s = *v.series(r);
        trimmed += s.fast.SumFromFirstFailure(bucket);
        const RunCounts& sw = s.partial.complete();
        slow_sum += Counts{sw.probes, sw.fails};
        since += s.partial.SinceFirstFailure();
      }
    }
    double dns_share = 0;
    v.ClassStats(where, /*episode=*/false, &f.dominant_class, &f.class_count, &dns_share);
    // The larger of the share "since it started failing" in the short
    // window (when it has enough probes) and in the slow window (from its
    // first failing minute): right from the first minute, not diluted by
    // the healthy minutes before the fault, and decaying smoothly after a
    // fix.
    // When the fast rule fired, the window holds enough evidence (all of
    // its failures are in `trimmed`) even if fewer probes followed the first
    // failure than partial_fast_min_probes; so it does when the episode has
    // partial_fast_min_failures failures of its own. (The slow rule, decided
    // at a minute boundary seconds into a fault on a young collector, would
    // otherwise report its window's share, diluted by the healthy minutes
    // before the fault: 10% for a quarter failing.)
    Counts share = since;
    if ((fast_rule || trimmed.probes >= static_cast<uint32_t>(o.partial_fast_min_probes) ||
         trimmed.fails >= static_cast<uint32_t>(o.partial_fast_min_failures)) &&
        trimmed.share() > share.share()) {
      share = trimmed;
    }
    f.share_fails = share.fails;
    f.share_probes = share.probes;
    // Whole percent steps: fewer updates.
    f.share = std::round(share.share() * 100) / 100;
    f.kind = f.class_count > 0 && dns_share >= o.dns_share ? IncidentKind::kDnsFailure
                                                           : IncidentKind::kPartialFailure;
    // The parenthesis: the counts the share came from, then the rule that
    // fired with its own window's counts (they differ: the share counts
    // from the first failure, the rule over its whole window).
    std::string rule;
    if (fast_rule) {
      rule = absl::StrFormat("the fast rule saw %u of %u fail in the last %s", fast_sum.fails,
                             fast_sum.probes, absl::FormatDuration(o.partial_fast_window));
    } else if (slow_rule) {
      rule = absl::StrFormat("the slow rule saw %u of %u fail in the last %s", slow_sum.fails,
                             slow_sum.probes, absl::FormatDuration(o.partial_window));
    } else {
      const BurnRule& br = o.burn_rules[c.burn_rule];
      rule = absl::StrFormat("error budget burning %.1fx over %s and %s", c.burn_value,
                             absl::FormatDuration(br.long_window),
                             absl::FormatDuration(br.short_window));
    }
    const Series* ev = v.EvidenceSeries(where, f.dominant_class);
    f.evidence = absl::StrFormat(
        "%.0f%% of probes failing in %s (%u of %u probes since the failures began; %s); %s",
        f.share * 100, v.RegionList(where), share.fails, share.probes, rule,
        ClassName(f.dominant_class));
    if (f.kind == IncidentKind::kDnsFailure) {
      absl::StrAppend(&f.evidence, " from resolvers ", c.resolvers_text);
    }
    if (ev != nullptr) {
      absl::StrAppend(&f.evidence, ": ", ev->detail);
    }
    out->push_back(std::move(f));
  }

  void Summarize(const FindingGroup& group, const DetectorOptions&,
                 DesiredIncident* incident) const override {
    SummarizeFailures(group, incident);
  }
};

}  // namespace

std::unique_ptr<Rule> NewPartialFailureRule() { return std::make_unique<PartialFailureRule>(); }

}  // namespace sonde::detect::rules
