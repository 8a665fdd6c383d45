#include <algorithm>

#include "collector/detect/detector_impl.h"
#include "collector/detect/rules/registry.h"

namespace sonde::detect {

void Detector::Impl::ReconcileService(uint32_t si, int64_t t) {
  const ServiceState& svc = services[si];
  struct Group {
    DesiredIncident d;
    FindingGroup g;
    uint64_t regions = 0;
    bool mixed_protocols = false;
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
  for (uint32_t ci : svc.checks) {
    CheckState& c = checks[ci];
    c.kind_held = false;
    for (const Finding& f : c.findings) {
      IncidentKind kind = f.kind;
      if (InfoOf(kind).availability) {
        // Inside an open incident a check keeps that incident's kind until
        // its new kind held for reclassify_after (recovery is staggered; a
        // global outage recovering region by region is not "regional").
        // Escalating to a kind grouped with the open one (REGIONAL ->
        // GLOBAL) is immediate.
        IncidentKind open_kind;
        if (book.OpenKindFor(svc.scope, c.name, &open_kind) && open_kind != kind &&
            InfoOf(kind).group_with != open_kind && t - c.kind_since < reclassify_us) {
          kind = open_kind;
          c.kind_held = true;
        }
      }
      const KindInfo& info = InfoOf(kind);
      Group& group = group_for(info.group_with, info.per_protocol ? c.target.protocol : "");
      DesiredIncident& d = group.d;
      FindingGroup& g = group.g;
      d.checks.push_back(c.name);
      d.hosts.push_back(c.target.host);
      d.targets.push_back(info.per_protocol ? c.target.host : c.name);
      if (g.n_checks == 0) {
        d.protocol = c.target.protocol;
      } else if (d.protocol != c.target.protocol) {
        group.mixed_protocols = true;
      }
      ++g.n_checks;
      group.regions |= f.regions;
      if (f.severity == Severity::kPage) {
        d.severity = Severity::kPage;
      }
      g.findings.push_back(&f);
      g.kinds.push_back(kind);
      g.classes[f.dominant_class & 127] += std::max<uint32_t>(1, f.class_count);
      g.fails += f.share_fails;
      g.probes += f.share_probes;
      g.max_share = std::max(g.max_share, f.share);
    }
  }
  const auto& rules = rules::Registry();
  std::vector<DesiredIncident> desired;
  desired.reserve(groups.size());
  for (Group& group : groups) {
    DesiredIncident& d = group.d;
    for (std::vector<std::string>* v : {&d.checks, &d.hosts, &d.targets}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    if (group.mixed_protocols) {
      d.protocol.clear();
    }
    d.regions = RegionNames(group.regions);
    rules[InfoOf(d.kind).rule]->Summarize(group.g, o, &d);
    desired.push_back(std::move(d));
  }
  book.Reconcile(svc.scope, svc.name, std::move(desired), TimeOf(t), &events);
}

}  // namespace sonde::detect
