#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "collector/detect/detector_impl.h"
#include "collector/detect/evidence_text.h"

namespace sonde::detect {

using FC = v1::FailureClass;

uint64_t Detector::Impl::SlowRegions(const CheckState& c, int64_t t) const {
  uint64_t mask = 0;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0) {
      continue;
    }
    const Series& s = *series[c.series[r]];
    if (!Voting(s, t)) {
      continue;
    }
    const RunCounts& w = s.partial.complete();
    // Like a burn-rate pair: the long window says "a share fails", the last
    // third of it says "and it still does", so the incident ends in minutes.
    if (w.probes >= static_cast<uint32_t>(o.partial_min_probes) &&
        w.fails >= static_cast<uint32_t>(o.partial_min_failures) &&
        w.fails >= o.partial_share * w.probes &&
        s.partial.Recent(std::max(1, partial_minutes / 3)).fails > 0) {
      mask |= uint64_t{1} << r;
    }
  }
  return mask;
}

void Detector::Impl::Burn(CheckState& c, int64_t t, bool* page, bool* ticket) {
  c.burn_value = 0;
  c.burn_rule = -1;
  int64_t last_outage = kNever;
  int64_t observed = 0;
  for (int32_t idx : c.series) {
    if (idx < 0) {
      continue;
    }
    const Series& s = *series[idx];
    last_outage = std::max(last_outage, s.last_outage_us);
    observed = std::max(observed, s.burn.observed_minutes());
  }
  if (observed == 0) {
    return;
  }
  for (size_t i = 0; i < o.burn_rules.size(); ++i) {
    const BurnRule& rule = o.burn_rules[i];
    Counts lw;
    Counts sw;
    for (size_t r = 0; r < c.series.size(); ++r) {
      if (c.series[r] < 0) {
        continue;
      }
      const Series& s = *series[c.series[r]];
      if (!Voting(s, t)) {
        continue;
      }
      lw += s.burn.Window(burn_layout, rule_ids[i].long_id);
      sw += s.burn.Window(burn_layout, rule_ids[i].short_id);
    }
    if (lw.probes == 0 || sw.probes == 0 || sw.fails < static_cast<uint32_t>(o.burn_min_failures)) {
      continue;
    }
    // History shorter than a window counts as within budget: a fresh
    // detector must not page on its first minutes of noise.
    const double long_min = absl::ToDoubleMinutes(rule.long_window);
    const double short_min = absl::ToDoubleMinutes(rule.short_window);
    const double burn_long = lw.share() * std::min(1.0, observed / long_min) / c.budget;
    const double burn_short = sw.share() * std::min(1.0, observed / short_min) / c.budget;
    if (burn_long <= rule.factor || burn_short <= rule.factor) {
      continue;
    }
    // Failures an outage incident already explains do not open a partial one.
    if (last_outage >= t - Us(rule.short_window)) {
      continue;
    }
    if (rule.page) {
      *page = true;
    } else {
      *ticket = true;
    }
    if (burn_long > c.burn_value) {
      c.burn_value = burn_long;
      c.burn_rule = static_cast<int>(i);
    }
  }
}

void Detector::Impl::ClassStats(const CheckState& c, uint64_t mask, int64_t t, int* dominant,
                                uint32_t* dominant_count, double* dns_share) const {
  std::array<uint32_t, 128> counts{};
  uint32_t total = 0;
  uint32_t dns = 0;
  const int64_t since = t - class_window_us;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0 || !(mask & (uint64_t{1} << r))) {
      continue;
    }
    const Series& s = *series[c.series[r]];
    const uint32_t n = std::min<uint32_t>(s.fail_pos, kFailureRing);
    for (uint32_t k = 0; k < n; ++k) {
      if (s.fail_us[k] < since) {
        continue;
      }
      const uint8_t cls = s.fail_class[k];
      ++counts[cls & 127];
      ++total;
      if (IsDnsClass(cls)) {
        ++dns;
      }
    }
  }
  *dominant = FC::UNSPECIFIED;
  *dominant_count = 0;
  for (int k = 0; k < 128; ++k) {
    if (counts[k] > *dominant_count) {
      *dominant_count = counts[k];
      *dominant = k;
    }
  }
  if (total == 0 && since > kNever) {
    // Nothing recent (an incident winding down): the last failures seen.
    ClassStats(c, mask, kNever + class_window_us, dominant, dominant_count, dns_share);
    return;
  }
  *dns_share = total == 0 ? 0.0 : static_cast<double>(dns) / total;
}

const Series* Detector::Impl::EvidenceSeries(const CheckState& c, uint64_t mask) const {
  const Series* best = nullptr;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0 || !(mask & (uint64_t{1} << r))) {
      continue;
    }
    const Series* s = series[c.series[r]].get();
    if (s->detail_us > kNever && (best == nullptr || s->detail_us > best->detail_us)) {
      best = s;
    }
  }
  return best;
}

std::string Detector::Impl::AnsweringProtocols(uint32_t ci, uint64_t down_regions) const {
  const CheckState& c = checks[ci];
  std::vector<std::string> answering;
  for (uint32_t other : host_checks[c.host]) {
    const CheckState& c2 = checks[other];
    const std::string& p2 = c2.target.protocol;
    if (other == ci || p2.empty() || p2 == "dns" || p2 == c.target.protocol) {
      continue;
    }
    bool ok = true;
    for (size_t r = 0; r < c2.series.size() && ok; ++r) {
      if (!(down_regions & (uint64_t{1} << r))) {
        continue;
      }
      if (c2.series[r] < 0) {
        ok = false;
        break;
      }
      const Series& s2 = *series[c2.series[r]];
      ok = s2.Live() && !s2.sm.down() && !s2.last_run_failed;
    }
    if (ok) {
      answering.push_back(p2);
    }
  }
  std::sort(answering.begin(), answering.end());
  answering.erase(std::unique(answering.begin(), answering.end()), answering.end());
  return absl::StrJoin(answering, ", ");
}

Finding Detector::Impl::Classify(uint32_t ci, int64_t t) {
  CheckState& c = checks[ci];
  Finding f;
  uint64_t voting = 0;
  uint64_t outage = 0;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0) {
      continue;
    }
    const Series& s = *series[c.series[r]];
    if (!Voting(s, t)) {
      continue;
    }
    voting |= uint64_t{1} << r;
    if (s.sm.outage()) {
      outage |= uint64_t{1} << r;
    }
  }
  const int n_voting = Popcount(voting);
  const int n_outage = Popcount(outage);

  // Availability: outage scope x layer, else partial failure.
  if (n_outage > 0) {
    f.avail = true;
    f.severity = Severity::kPage;
    f.regions = outage;
    f.kind = n_voting >= o.global_min_regions && 2 * n_outage > n_voting
                 ? IncidentKind::kGlobalOutage
                 : IncidentKind::kRegionalOutage;
    double dns_share = 0;
    ClassStats(c, outage, t, &f.dominant_class, &f.class_count, &dns_share);
    f.share = 1.0;
    const Series* ev = EvidenceSeries(c, outage);
    const std::string detail = ev != nullptr ? ev->detail : std::string();
    std::string answering;
    if (f.class_count > 0 && dns_share >= o.dns_share) {
      f.kind = IncidentKind::kDnsFailure;
      f.evidence = absl::StrCat(Rcode(f.dominant_class), " for ", c.target.host, " from resolvers ",
                                c.resolvers_text, " in ", RegionList(outage));
      const size_t at = detail.find("server at last known address");
      if (at != std::string::npos) {
        absl::StrAppend(&f.evidence, "; ", detail.substr(at));
      } else if (!detail.empty()) {
        absl::StrAppend(&f.evidence, "; ", detail);
      }
    } else if (!(answering = AnsweringProtocols(ci, outage)).empty()) {
      f.kind = IncidentKind::kProtocolOutage;
      f.evidence = absl::StrCat(c.target.protocol, " of ", c.target.host, " fails (",
                                ClassName(f.dominant_class), ") in ", RegionList(outage), " while ",
                                answering, " answers");
      if (!detail.empty()) {
        absl::StrAppend(&f.evidence, "; ", detail);
      }
    } else {
      f.evidence = absl::StrCat(ClassName(f.dominant_class), " from ", RegionList(outage));
      if (!detail.empty()) {
        absl::StrAppend(&f.evidence, ": ", detail);
      }
    }
  } else if (n_voting > 0) {
    const int need = std::min(o.partial_min_regions, n_voting);
    const int64_t bucket = FloorDiv(t, fast_bucket_us);
    uint64_t fast = 0;
    Counts fast_sum;
    Counts trimmed;
    Counts slow_sum;
    for (size_t r = 0; r < c.series.size(); ++r) {
      if (!(voting & (uint64_t{1} << r))) {
        continue;
      }
      Series& s = *series[c.series[r]];
      const Counts w = s.fast.Sum(bucket);
      fast_sum += w;
      trimmed += s.fast.SumFromFirstFailure(bucket);
      const RunCounts& sw = s.partial.complete();
      slow_sum += Counts{sw.probes, sw.fails};
      if (w.probes >= static_cast<uint32_t>(o.partial_fast_min_probes) &&
          w.fails >= static_cast<uint32_t>(o.partial_fast_min_failures) &&
          w.fails >= o.partial_fast_share * w.probes) {
        fast |= uint64_t{1} << r;
      }
    }
    const uint64_t slow = c.slow_regions & voting;
    const bool fast_rule = Popcount(fast) >= need;
    const bool slow_rule = Popcount(slow) >= need;
    const bool burn = c.burn_page || c.burn_ticket;
    if (fast_rule || slow_rule || burn) {
      f.avail = true;
      f.severity = fast_rule || slow_rule || c.burn_page ? Severity::kPage : Severity::kTicket;
      // The regions that see failures (not only those over a threshold right
      // now: at 20% the per-region verdicts flicker).
      uint64_t where = 0;
      for (size_t r = 0; r < c.series.size(); ++r) {
        if (!(voting & (uint64_t{1} << r))) {
          continue;
        }
        Series& s = *series[c.series[r]];
        if (s.partial.WithCurrent(s.minute_partial).fails > 0 || s.fast.Sum(bucket).fails > 0) {
          where |= uint64_t{1} << r;
        }
      }
      if (where == 0) {
        where = voting;
      }
      f.regions = where;
      double dns_share = 0;
      ClassStats(c, where, t, &f.dominant_class, &f.class_count, &dns_share);
      // The larger of the share "since it started failing" in the short
      // window (when it has enough probes) and the slow window's: right
      // from the first minute, and decaying smoothly after a fix.
      Counts share = slow_sum;
      if (trimmed.probes >= static_cast<uint32_t>(o.partial_fast_min_probes) &&
          trimmed.share() > slow_sum.share()) {
        share = trimmed;
      }
      f.share_fails = share.fails;
      f.share_probes = share.probes;
      // Whole percent steps: fewer updates.
      f.share = std::round(share.share() * 100) / 100;
      f.kind = f.class_count > 0 && dns_share >= o.dns_share ? IncidentKind::kDnsFailure
                                                             : IncidentKind::kPartialFailure;
      std::string rule;
      if (fast_rule) {
        rule = absl::StrFormat("%u of %u probes failed in the last %s", fast_sum.fails,
                               fast_sum.probes, absl::FormatDuration(o.partial_fast_window));
      } else if (slow_rule) {
        rule = absl::StrFormat("%u of %u probes failed in the last %s", slow_sum.fails,
                               slow_sum.probes, absl::FormatDuration(o.partial_window));
      } else {
        const BurnRule& br = o.burn_rules[c.burn_rule];
        rule = absl::StrFormat("error budget burning %.1fx over %s and %s", c.burn_value,
                               absl::FormatDuration(br.long_window),
                               absl::FormatDuration(br.short_window));
      }
      const Series* ev = EvidenceSeries(c, where);
      f.evidence = absl::StrFormat("%.0f%% of probes failing in %s (%s); %s", f.share * 100,
                                   RegionList(where), rule, ClassName(f.dominant_class));
      if (f.kind == IncidentKind::kDnsFailure) {
        absl::StrAppend(&f.evidence, " from resolvers ", c.resolvers_text);
      }
      if (ev != nullptr) {
        absl::StrAppend(&f.evidence, ": ", ev->detail);
      }
    }
  }

  // Latency: degraded in min(latency_min_regions, half of the voting regions).
  uint64_t slow_latency = 0;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (!(voting & (uint64_t{1} << r))) {
      continue;
    }
    if (series[c.series[r]]->latency.degraded()) {
      slow_latency |= uint64_t{1} << r;
    }
  }
  const int latency_need = std::max(1, std::min(o.latency_min_regions, (n_voting + 1) / 2));
  if (n_voting > 0 && Popcount(slow_latency) >= latency_need) {
    f.latency = true;
    f.latency_regions = slow_latency;
    for (size_t r = 0; r < c.series.size(); ++r) {
      if (!(slow_latency & (uint64_t{1} << r))) {
        continue;
      }
      const LatencyTracker& lt = series[c.series[r]]->latency;
      const std::array<double, kPhaseCount> shift = lt.PhaseShift();
      for (int p = 0; p < kPhaseCount; ++p) {
        f.shift[p] += shift[p];
      }
      if (lt.window_percentile_us() > f.p95_us) {
        f.p95_us = lt.window_percentile_us();
        f.baseline_us = lt.baseline_percentile_us();
      }
    }
  }

  // Flapping: any reporting region.
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0) {
      continue;
    }
    const Series& s = *series[c.series[r]];
    if (s.Live() && s.flap.flapping()) {
      f.flap_regions |= uint64_t{1} << r;
      f.flap_percent = std::max(f.flap_percent, s.flap.percent());
    }
  }
  f.flapping = f.flap_regions != 0;
  return f;
}

}  // namespace sonde::detect
