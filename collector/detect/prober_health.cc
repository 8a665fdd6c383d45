#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collector/detect/detector_impl.h"
#include "collector/detect/evidence_text.h"

namespace sonde::detect {

using FC = v1::FailureClass;

bool Detector::Impl::Voting(const Series& s, int64_t t) const {
  return s.Live() && !regions[s.region].unhealthy && !(s.tainted && t < s.taint_until);
}

namespace {

bool SameTicket(const std::optional<DesiredIncident>& a, const std::optional<DesiredIncident>& b) {
  if (!a.has_value() || !b.has_value()) {
    return a.has_value() == b.has_value();
  }
  return a->checks == b->checks && a->hosts == b->hosts && a->regions == b->regions &&
         a->dominant_class == b->dominant_class && a->evidence == b->evidence &&
         a->discriminator == b->discriminator;
}

}  // namespace

void Detector::Impl::RecomputeRegion(uint32_t r, int64_t t) {
  RegionHealth& rh = regions[r];
  rh.dirty = false;
  if (follows_verdicts) {
    return;  // the judge decides (ApplyVerdicts)
  }
  bool others_live = false;
  for (uint32_t i = 0; i < regions.size(); ++i) {
    if (i != r && regions[i].live > 0) {
      others_live = true;
    }
  }
  const bool silent =
      !rh.series.empty() && rh.stale == static_cast<int>(rh.series.size()) && others_live;
  bool faulty = rh.faulty;
  const double considered = rh.considered;
  const bool suspect =
      rh.considered >= o.prober_min_checks && rh.bad >= o.prober_fault_share * considered;
  std::vector<uint32_t> bad_checks;
  if (suspect || rh.faulty) {
    // Count the checks this region fails while another region passes them.
    for (uint32_t i : rh.series) {
      const Series& s = *series[i];
      if (!s.counted_bad) {
        continue;
      }
      const CheckState& c = checks[s.check];
      bool passes_elsewhere = false;
      for (size_t r2 = 0; r2 < c.series.size() && !passes_elsewhere; ++r2) {
        if (r2 == r || c.series[r2] < 0 || regions[r2].unhealthy) {
          continue;
        }
        const Series& o2 = *series[c.series[r2]];
        passes_elsewhere =
            o2.Live() && !o2.last_run_failed && !o2.sm.down() && !o2.last_run_prober_error;
      }
      if (passes_elsewhere) {
        bad_checks.push_back(s.check);
      }
    }
    const double confirmed = static_cast<double>(bad_checks.size());
    if (!rh.faulty) {
      faulty = suspect && confirmed >= o.prober_fault_share * considered;
    } else {
      faulty = considered > 0 && confirmed > o.prober_recover_share * considered;
    }
  } else {
    faulty = false;
  }
  std::sort(bad_checks.begin(), bad_checks.end());
  if (bad_checks != rh.bad_checks) {
    rh.bad_checks = std::move(bad_checks);
    if (rh.unhealthy) {
      prober_dirty = true;
    }
  }
  rh.faulty = faulty;
  rh.silent = silent;
  SetRegionHealth(r, faulty || silent, t);
}

void Detector::Impl::SetRegionHealth(uint32_t r, bool unhealthy, int64_t t) {
  RegionHealth& rh = regions[r];
  if (unhealthy == rh.unhealthy) {
    return;
  }
  rh.unhealthy = unhealthy;
  prober_dirty = true;
  for (uint32_t i : rh.series) {
    MarkCheck(series[i]->check);
  }
  if (unhealthy) {
    rh.unhealthy_since = t;
    PushTimer(t + Us(o.prober_fault_hold), kProberHoldTimer, r);
  } else {
    // Series still DOWN from the fault must not open target incidents now.
    const int64_t until = t + Us(o.prober_taint_max);
    for (uint32_t i : rh.series) {
      Series& s = *series[i];
      if (s.sm.down()) {
        s.tainted = true;
        s.taint_until = until;
      }
    }
    PushTimer(until, kTaintTimer, r);
  }
}

void Detector::Impl::ApplyVerdicts(uint32_t r, int64_t t) {
  RegionHealth& rh = regions[r];
  bool applied = false;
  while (!rh.verdicts.empty() && Us(rh.verdicts.front().at) <= t) {
    SetRegionHealth(r, rh.verdicts.front().unhealthy, t);
    rh.ticket = std::move(rh.verdicts.front().ticket);
    rh.verdicts.pop_front();
    applied = true;
  }
  if (applied) {
    prober_dirty = true;
    ScheduleEvaluation();
  }
}

void Detector::Impl::ExportVerdict(uint32_t r, const DesiredIncident* ticket, int64_t t) {
  if (!exports_verdicts) {
    return;
  }
  RegionHealth& rh = regions[r];
  std::optional<DesiredIncident> now;
  if (ticket != nullptr) {
    now = *ticket;
  }
  if (rh.exported_unhealthy == rh.unhealthy && SameTicket(rh.exported_ticket, now)) {
    return;
  }
  rh.exported_unhealthy = rh.unhealthy;
  rh.exported_ticket = now;
  exported.push_back({rh.name, TimeOf(t), rh.unhealthy, std::move(now)});
}

void Detector::Impl::ReconcileProbers(int64_t t) {
  prober_dirty = false;
  std::vector<DesiredIncident> desired;
  for (uint32_t r = 0; r < regions.size(); ++r) {
    const RegionHealth& rh = regions[r];
    if (follows_verdicts) {
      if (rh.ticket.has_value()) {
        desired.push_back(*rh.ticket);
      }
      continue;
    }
    if (!rh.unhealthy || t < rh.unhealthy_since + Us(o.prober_fault_hold)) {
      ExportVerdict(r, nullptr, t);
      continue;
    }
    DesiredIncident d;
    d.kind = IncidentKind::kProberFault;
    d.discriminator = rh.name;
    d.severity = Severity::kTicket;
    d.regions = {rh.name};
    std::array<uint32_t, 128> classes{};
    for (uint32_t ci : rh.bad_checks) {
      d.checks.push_back(checks[ci].name);
      d.hosts.push_back(checks[ci].target.host);
      const Series& s = *series[checks[ci].series[r]];
      const uint32_t n = std::min<uint32_t>(s.fail_pos, kFailureRing);
      for (uint32_t k = 0; k < n; ++k) {
        ++classes[s.fail_class[k] & 127];
      }
    }
    uint32_t best = 0;
    for (int k = 0; k < 128; ++k) {
      if (classes[k] > best) {
        best = classes[k];
        d.dominant_class = static_cast<FC::Code>(k);
      }
    }
    std::sort(d.hosts.begin(), d.hosts.end());
    d.hosts.erase(std::unique(d.hosts.begin(), d.hosts.end()), d.hosts.end());
    d.targets = d.checks;
    const std::string prober = rh.prober_id.empty() ? "unknown" : rh.prober_id;
    if (rh.silent) {
      d.evidence = absl::StrFormat(
          "no results from region %s (prober %s) for %d checks while other "
          "regions report",
          rh.name, prober, static_cast<int>(rh.series.size()));
    } else {
      d.evidence = absl::StrFormat(
          "region %s (prober %s) fails %d of %d checks that pass in other "
          "regions (%s)",
          rh.name, prober, static_cast<int>(rh.bad_checks.size()), rh.considered,
          ClassName(d.dominant_class));
    }
    ExportVerdict(r, &d, t);
    desired.push_back(std::move(d));
  }
  // A prober that never applied its region's config probes an old one, or
  // nothing: a ticket for the monitoring owners, not silence.
  for (const ConfigFault& f : config_faults) {
    DesiredIncident d;
    d.kind = IncidentKind::kProberFault;
    d.discriminator = absl::StrCat("config:", f.prober_id);
    d.severity = Severity::kTicket;
    d.regions = {f.region};
    d.dominant_class = FC::PROBER_ERROR;
    d.evidence = absl::StrFormat(
        "prober %s (region %s) has not applied config version %s, sent since %s; it runs %s%s",
        f.prober_id, f.region, f.version,
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", f.pending_since, absl::UTCTimeZone()),
        f.applied.empty() ? "none" : f.applied,
        f.last_error.empty() ? "" : absl::StrCat("; last delivery error: ", f.last_error));
    desired.push_back(std::move(d));
  }
  book.Reconcile(kProberScope, o.prober_fault_service, std::move(desired), TimeOf(t), &events);
}

}  // namespace sonde::detect
