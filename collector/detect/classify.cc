#include <algorithm>

#include "absl/strings/str_join.h"
#include "collector/detect/detector_impl.h"
#include "collector/detect/evidence_text.h"
#include "collector/detect/rules/registry.h"

namespace sonde::detect {

using FC = v1::FailureClass;

uint64_t Detector::Impl::SlowRegions(const CheckState& c, int64_t t) const {
  uint64_t mask = 0;
  ForEachVoting(c, t, [&](size_t r, const Series& s) {
    const RunCounts& w = s.partial.complete();
    // Like a burn-rate pair: the long window says "a share fails", the last
    // third of it says "and it still does", so the incident ends in minutes.
    // The noise test last: it is the dearest, and rarely reached.
    if (w.probes >= static_cast<uint32_t>(o.partial_min_probes) &&
        w.fails >= static_cast<uint32_t>(o.partial_min_failures) &&
        w.fails >= o.partial_share * w.probes &&
        s.partial.Recent(std::max(1, partial_minutes / 3)).fails > 0 &&
        NoiseTail(w.probes, w.fails, o.partial_noise_share) < o.partial_noise_p) {
      mask |= uint64_t{1} << r;
    }
  });
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
    // A series that has failed every run it ever ran (a target down from
    // the start) is an outage waiting for its confirming run, not a budget
    // slowly burning: the outage rule names it a run later. Without this,
    // a minute boundary right after start-up opened it as PARTIAL_FAILURE.
    if (!s.sm.outage() && s.sm.runs() > 0 &&
        static_cast<uint64_t>(s.sm.consecutive_failures()) == s.sm.runs()) {
      return;
    }
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

void Detector::Impl::ClassStats(const CheckState& c, uint64_t mask, int64_t t, bool episode,
                                int* dominant, uint32_t* dominant_count, double* dns_share) const {
  std::array<uint32_t, 128> counts{};
  uint32_t total = 0;
  uint32_t dns = 0;
  const int64_t since = t - class_window_us;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0 || !(mask & (uint64_t{1} << r))) {
      continue;
    }
    const Series& s = *series[c.series[r]];
    const int64_t from = episode ? std::max(since, s.episode_start_us) : since;
    const uint32_t n = std::min<uint32_t>(s.fail_pos, kFailureRing);
    for (uint32_t k = 0; k < n; ++k) {
      if (s.fail_us[k] < from) {
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
    ClassStats(c, mask, kNever + class_window_us, episode, dominant, dominant_count, dns_share);
    return;
  }
  *dns_share = total == 0 ? 0.0 : static_cast<double>(dns) / total;
}

const Series* Detector::Impl::EvidenceSeries(const CheckState& c, uint64_t mask,
                                             int failure_class) const {
  const Series* best = nullptr;
  for (size_t r = 0; r < c.series.size(); ++r) {
    if (c.series[r] < 0 || !(mask & (uint64_t{1} << r))) {
      continue;
    }
    const Series* s = series[c.series[r]].get();
    if (s->detail_us > kNever && s->detail_class == failure_class &&
        (best == nullptr || s->detail_us > best->detail_us)) {
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

// The rules' view of one check: the detector's state behind CheckView.
class Detector::Impl::View : public CheckView {
 public:
  View(const Detector::Impl& impl, uint32_t ci, int64_t t, uint64_t voting, uint64_t outage)
      : CheckView(impl.checks[ci], impl.o, t, voting, outage), impl_(impl), ci_(ci) {}

  Series* series(size_t r) const override {
    const int32_t i = check().series[r];
    return i < 0 ? nullptr : impl_.series[i].get();
  }
  std::string RegionList(uint64_t mask) const override { return impl_.RegionList(mask); }
  void ClassStats(uint64_t mask, bool episode, int* dominant, uint32_t* dominant_count,
                  double* dns_share) const override {
    impl_.ClassStats(check(), mask, now(), episode, dominant, dominant_count, dns_share);
  }
  const Series* EvidenceSeries(uint64_t mask, int failure_class) const override {
    return impl_.EvidenceSeries(check(), mask, failure_class);
  }
  std::string AnsweringProtocols(uint64_t mask) const override {
    return impl_.AnsweringProtocols(ci_, mask);
  }
  int64_t fast_bucket() const override { return FloorDiv(now(), impl_.fast_bucket_us); }

 private:
  const Detector::Impl& impl_;
  uint32_t ci_;
};

std::vector<Finding> Detector::Impl::Classify(uint32_t ci, int64_t t) {
  const CheckState& c = checks[ci];
  uint64_t voting = 0;
  uint64_t outage = 0;
  ForEachVoting(c, t, [&](size_t r, const Series& s) {
    voting |= uint64_t{1} << r;
    if (s.sm.outage()) {
      outage |= uint64_t{1} << r;
    }
  });
  const View view(*this, ci, t, voting, outage);
  std::vector<Finding> findings;
  for (const std::unique_ptr<Rule>& rule : rules::Registry()) {
    rule->Evaluate(view, &findings);
  }
  return findings;
}

}  // namespace sonde::detect
