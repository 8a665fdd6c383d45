// PARTIAL_FAILURE: no voting region is DOWN, but a share of the probes
// fail -- the Boxcryptor case. Any of:
//   fast rule  >= partial_fast_share of >= partial_fast_min_probes probes
//              (pooled over the voting regions) in the last
//              partial_fast_window (a sparse check: the recent minutes that
//              hold that many probes), with failures seen in
//              min(partial_min_regions, voting regions) regions (page)
//   slow rule  the same over partial_window, still failing in its last third
//              (CheckState::slow_regions, decided at minute boundaries; page)
//   burn rate  the SLO burn-rate rules (CheckState::burn_page/burn_ticket,
//              decided at minute boundaries; page or ticket)
// When >= dns_share of the failures are DNS_*, the kind is DNS_FAILURE.
// The reported share is the share since the failures began, over the
// regions named, in whole percent; the evidence gives its counts, then the
// firing rule's own.
#include <array>
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

uint32_t MinProbes(const DetectorOptions& o) {
  return static_cast<uint32_t>(o.partial_fast_min_probes);
}

class PartialFailureRule : public Rule {
 public:
  std::vector<KindInfo> Kinds() const override {
    KindInfo partial{IncidentKind::kPartialFailure, "PARTIAL_FAILURE", Severity::kPage, true};
    partial.share_of_outage = true;
    return {partial};
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
    // The fast window, or for a sparse check (fewer probes there than
    // partial_fast_min_probes) the recent minutes: this minute and the k
    // whole ones before, k up to a third of partial_window, until they
    // hold that many. There half as many probes are enough when their
    // failures are more than 1% noise (partial_noise_share) makes but once
    // in 1/partial_noise_p: a check every 30 s in three regions (6 probes a
    // minute) opens about 4 minutes into a quarter failing, not after the
    // slow rule's 15 minutes diluted by the healthy ones before the fault.
    std::array<Counts, kMaxRegions> w{};
    Counts fast_sum;
    auto fires = [&](bool sparse) {
      int regions = 0;
      for (size_t r = 0; r < v.region_count(); ++r) {
        // A region takes part when it sees failures of its own (two, at
        // half the share): one stray failure elsewhere does not make a
        // one-region problem a partial failure across regions.
        if ((voting & (uint64_t{1} << r)) && w[r].fails >= 2 &&
            w[r].fails >= o.partial_fast_share / 2 * w[r].probes) {
          ++regions;
        }
      }
      // The share test runs on the pooled counts: three regions' evidence
      // together crosses the threshold sooner, and is far less likely to be
      // noise, than each region's alone (docs/detection.md).
      if (regions < need || fast_sum.fails < static_cast<uint32_t>(o.partial_fast_min_failures) ||
          fast_sum.fails < o.partial_fast_share * fast_sum.probes) {
        return false;
      }
      return fast_sum.probes >= MinProbes(o) ||
             (sparse && fast_sum.probes >= MinProbes(o) / 2 &&
              NoiseTail(fast_sum.probes, fast_sum.fails, o.partial_noise_share) <
                  o.partial_noise_p);
    };
    for (size_t r = 0; r < v.region_count(); ++r) {
      if (voting & (uint64_t{1} << r)) {
        w[r] = v.series(r)->fast.Sum(bucket);
        fast_sum += w[r];
      }
    }
    bool fast_rule = fires(false);
    int minutes_before = 0;  // 0: the fast window
    const int most = static_cast<int>(absl::ToInt64Minutes(o.partial_window)) / 3;
    for (int k = 1; !fast_rule && k <= most && fast_sum.probes < MinProbes(o); ++k) {
      fast_sum = Counts{};
      for (size_t r = 0; r < v.region_count(); ++r) {
        if (voting & (uint64_t{1} << r)) {
          const Series& s = *v.series(r);
          const RunCounts recent = s.partial.Recent(k);
          w[r] = Counts{recent.probes + s.minute_partial.probes,
                        recent.fails + s.minute_partial.fails};
          fast_sum += w[r];
        }
      }
      minutes_before = k;
      fast_rule = fires(true);
    }
    const uint64_t slow = c.slow_regions & voting;
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
    // The fast window from the first failure of any of those regions, that
    // failure left out: it marks the start, and counted, two probes since
    // it that were both failures would read 100%.
    int64_t first = -1;
    for (size_t r = 0; r < v.region_count(); ++r) {
      if (where & (uint64_t{1} << r)) {
        const int64_t b = v.series(r)->fast.FirstFailure(bucket);
        if (b >= 0 && (first < 0 || b < first)) {
          first = b;
        }
      }
    }
    Counts trimmed;
    Counts slow_sum;    // the rule's own numbers (evidence)
    Counts since;       // the minutes after its first failing one
    Counts window;      // the slow window and this minute
    Counts fast_where;  // the fast rule's window
    for (size_t r = 0; r < v.region_count(); ++r) {
      if (where & (uint64_t{1} << r)) {
        Series& s = *v.series(r);
        if (first >= 0) {
          trimmed += s.fast.SumFrom(first, bucket);
        }
        const RunCounts& sw = s.partial.complete();
        slow_sum += Counts{sw.probes, sw.fails};
        since += s.partial.AfterFirstFailingMinute(s.minute_partial);
        fast_where += w[r];
        const RunCounts all = s.partial.WithCurrent(s.minute_partial);
        window += Counts{all.probes, all.fails};
      }
    }
    if (trimmed.fails > 0) {
      --trimmed.fails;
      --trimmed.probes;
    }
    double dns_share = 0;
    v.ClassStats(where, /*episode=*/false, &f.dominant_class, &f.class_count, &dns_share);
    // The share "since it started failing", from whichever of two unbiased
    // counts holds more probes: the short window from the regions' first
    // failure (left out), or the minutes after each region's first failing
    // minute with this one. Right from the first seconds, steady after two
    // minutes (the larger of the two read 55% at times for a quarter
    // failing, on 20-probe windows), not diluted by the healthy minutes
    // before the fault, and decaying smoothly after a fix. The 24 s window
    // that made the fast rule fire holds enough failures; before either
    // holds partial_fast_min_probes probes otherwise (the first minute of a
    // sparse check), the firing rule's own counts, or the whole window's.
    Counts share = since.probes >= trimmed.probes ? since : trimmed;
    const bool fast_window_fired = fast_rule && minutes_before == 0 && share.fails > 0;
    if ((share.probes < MinProbes(o) && !fast_window_fired) || share.fails == 0) {
      const Counts rule_counts = fast_rule ? fast_where : slow_rule ? slow_sum : window;
      if (rule_counts.probes > share.probes) {
        share = rule_counts;
      }
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
    if (fast_rule && minutes_before == 0) {
      rule = absl::StrFormat("the fast rule saw %u of %u fail in the last %s", fast_sum.fails,
                             fast_sum.probes, absl::FormatDuration(o.partial_fast_window));
    } else if (fast_rule) {
      rule = absl::StrFormat("the fast rule saw %u of %u fail in this minute and the %d before",
                             fast_sum.fails, fast_sum.probes, minutes_before);
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
