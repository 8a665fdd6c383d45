#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "collector/detect/detector_impl.h"
#include "collector/detect/evidence_text.h"

namespace sonde::detect {

using FC = v1::FailureClass;

void Detector::Impl::ReconcileService(uint32_t si, int64_t t) {
  const ServiceState& svc = services[si];
  struct Group {
    DesiredIncident d;
    uint64_t regions = 0;
    std::array<uint32_t, 128> classes{};
    uint64_t fails = 0;
    uint64_t probes = 0;
    double max_share = 0;
    std::array<double, kPhaseCount> shift{};
    std::vector<const std::string*> evidence;  // per check, in check-name order
    int n_checks = 0;
    bool mixed_protocols = false;
    bool any_global = false;
  };
  std::vector<Group> groups;
  auto group_for = [&](IncidentKind kind, const std::string& disc) -> Group& {
    for (Group& g : groups) {
      if (g.d.kind == kind && g.d.discriminator == disc) {
        return g;
      }
    }
    groups.emplace_back();
    groups.back().d.kind = kind;
    groups.back().d.discriminator = disc;
    groups.back().d.severity = Severity::kTicket;
    return groups.back();
  };
  auto add = [&](Group& g, const CheckState& c, uint64_t regions_mask, bool use_host_target) {
    g.d.checks.push_back(c.name);
    g.d.hosts.push_back(c.target.host);
    g.d.targets.push_back(use_host_target ? c.target.host : c.name);
    if (g.n_checks == 0) {
      g.d.protocol = c.target.protocol;
    } else if (g.d.protocol != c.target.protocol) {
      g.mixed_protocols = true;
    }
    ++g.n_checks;
    g.regions |= regions_mask;
  };
  for (uint32_t ci : svc.checks) {
    const CheckState& c = checks[ci];
    const Finding& f = c.finding;
    checks[ci].kind_held = false;
    if (f.avail) {
      // Inside an open incident a check keeps that incident's kind until its
      // new kind held for reclassify_after (recovery is staggered; a global
      // outage recovering region by region is not "regional"). Escalation
      // REGIONAL -> GLOBAL is immediate.
      IncidentKind kind = f.kind;
      IncidentKind open_kind;
      if (book.OpenKindFor(svc.scope, c.name, &open_kind) && open_kind != kind &&
          !(open_kind == IncidentKind::kRegionalOutage && kind == IncidentKind::kGlobalOutage) &&
          t - c.kind_since < reclassify_us) {
        kind = open_kind;
        checks[ci].kind_held = true;
      }
      const bool protocol = kind == IncidentKind::kProtocolOutage;
      // GLOBAL and REGIONAL are scopes of one outage: one incident per
      // service, GLOBAL when any of its checks is down in a majority.
      const bool outage =
          kind == IncidentKind::kGlobalOutage || kind == IncidentKind::kRegionalOutage;
      Group& g = group_for(outage ? IncidentKind::kRegionalOutage : kind,
                           protocol ? c.target.protocol : std::string());
      if (kind == IncidentKind::kGlobalOutage) {
        g.any_global = true;
      }
      add(g, c, f.regions, protocol);
      if (f.severity == Severity::kPage) {
        g.d.severity = Severity::kPage;
      }
      g.classes[f.dominant_class & 127] += std::max<uint32_t>(1, f.class_count);
      g.fails += f.share_fails;
      g.probes += f.share_probes;
      g.max_share = std::max(g.max_share, f.share);
      if (!f.evidence.empty()) {
        g.evidence.push_back(&f.evidence);
      }
    }
    if (f.latency) {
      Group& g = group_for(IncidentKind::kLatencyDegradation, "");
      add(g, c, f.latency_regions, false);
      g.d.severity = Severity::kPage;
      for (int p = 0; p < kPhaseCount; ++p) {
        g.shift[p] += f.shift[p];
      }
      if (absl::Microseconds(f.p95_us) > g.d.latency_p95) {
        g.d.latency_p95 = absl::Microseconds(f.p95_us);
        g.d.latency_baseline_p95 = absl::Microseconds(f.baseline_us);
      }
    }
    if (f.flapping) {
      Group& g = group_for(IncidentKind::kFlapping, "");
      add(g, c, f.flap_regions, false);
      g.max_share = std::max(g.max_share, f.flap_percent);
    }
  }
  std::vector<DesiredIncident> desired;
  desired.reserve(groups.size());
  for (Group& g : groups) {
    DesiredIncident& d = g.d;
    if (g.any_global) {
      d.kind = IncidentKind::kGlobalOutage;
    }
    for (std::vector<std::string>* v : {&d.checks, &d.hosts, &d.targets}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    if (g.mixed_protocols) {
      d.protocol.clear();
    }
    d.regions = RegionNames(g.regions);
    const std::string more =
        g.n_checks > 1 ? absl::StrCat(" (+", g.n_checks - 1, " more checks)") : "";
    switch (d.kind) {
      case IncidentKind::kLatencyDegradation: {
        // Name the phase whose mean moved most.
        int best = 0;
        for (int p = 1; p < kPhaseCount; ++p) {
          if (g.shift[p] > g.shift[best]) {
            best = p;
          }
        }
        static constexpr LatencyPhase kPhases[kPhaseCount] = {
            LatencyPhase::kDns, LatencyPhase::kConnect, LatencyPhase::kTls,
            LatencyPhase::kFirstByte};
        d.latency_phase = g.shift[best] > 0 ? kPhases[best] : LatencyPhase::kNone;
        d.evidence = absl::StrCat(
            "p", static_cast<int>(std::lround(o.latency_percentile * 100)), " ",
            Millis(absl::ToDoubleMicroseconds(d.latency_p95)), " vs baseline ",
            Millis(absl::ToDoubleMicroseconds(d.latency_baseline_p95)), " in ",
            absl::StrJoin(d.regions, ", "), "; ", LatencyPhaseName(d.latency_phase),
            " moved most (+", Millis(g.shift[best] / std::max(1, g.n_checks)), " mean)", more);
        break;
      }
      case IncidentKind::kFlapping:
        d.failing_share = 0;
        d.evidence =
            absl::StrFormat("state changed %.0f%% over the last %d samples in %s%s", g.max_share,
                            o.flap_history, absl::StrJoin(d.regions, ", "), more);
        break;
      default: {
        uint32_t best = 0;
        for (int k = 0; k < 128; ++k) {
          if (g.classes[k] > best) {
            best = g.classes[k];
            d.dominant_class = static_cast<FC::Code>(k);
          }
        }
        d.failing_share = g.probes > 0 ? std::round(100.0 * g.fails / g.probes) / 100 : g.max_share;
        // The evidence of the first checks (by name), distinct texts only.
        std::vector<std::string> parts;
        for (const std::string* e : g.evidence) {
          if (parts.size() == kEvidenceChecks) {
            break;
          }
          if (std::find(parts.begin(), parts.end(), *e) == parts.end()) {
            parts.push_back(*e);
          }
        }
        const int rest = g.n_checks - static_cast<int>(parts.size());
        d.evidence = absl::StrJoin(parts, " | ");
        if (rest > 0) {
          absl::StrAppend(&d.evidence, " (+", rest, " more checks)");
        }
        break;
      }
    }
    desired.push_back(std::move(d));
  }
  book.Reconcile(svc.scope, svc.name, std::move(desired), TimeOf(t), &events);
}

}  // namespace sonde::detect
