// Grouping: one service's findings -> the incidents that should be open.
#include <algorithm>
#include <array>
#include <numeric>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/detect/detector_impl.h"
#include "collector/detect/rules/registry.h"

namespace sonde::detect {
namespace {

// One check's finding, under the kind it is reported as.
struct Entry {
  uint32_t check;
  const Finding* finding;
  IncidentKind kind;
  std::string discriminator;  // per-protocol kinds: the group's protocols
  bool changing = false;      // its kind differs from its open incident's
};

// One fault, one incident: per-protocol findings (PROTOCOL_OUTAGE) of one
// protocol, or of checks sharing an endpoint (host:port: a TLS and an HTTPS
// check of one listener), form one group, named by its protocols ("https",
// "https+tls"). Union-find over the entries; a service has few.
void ProtocolDiscriminators(const std::vector<CheckState>& checks, std::vector<Entry>* entries) {
  if (std::none_of(entries->begin(), entries->end(),
                   [](const Entry& e) { return InfoOf(e.kind).per_protocol; })) {
    return;
  }
  std::vector<size_t> parent(entries->size());
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](size_t i) {
    while (parent[i] != i) {
      i = parent[i] = parent[parent[i]];
    }
    return i;
  };
  absl::flat_hash_map<std::string, size_t> first;
  for (size_t i = 0; i < entries->size(); ++i) {
    const Entry& e = (*entries)[i];
    if (!InfoOf(e.kind).per_protocol) {
      continue;
    }
    const CheckTarget& t = checks[e.check].target;
    for (std::string key :
         {absl::StrCat("p:", t.protocol), absl::StrCat("e:", t.host, ":", t.port)}) {
      auto [it, inserted] = first.emplace(std::move(key), i);
      if (!inserted) {
        parent[find(i)] = find(it->second);
      }
    }
  }
  absl::flat_hash_map<size_t, std::vector<std::string>> protocols;
  for (size_t i = 0; i < entries->size(); ++i) {
    if (InfoOf((*entries)[i].kind).per_protocol) {
      protocols[find(i)].push_back(checks[(*entries)[i].check].target.protocol);
    }
  }
  for (auto& [root, names] : protocols) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
  }
  for (size_t i = 0; i < entries->size(); ++i) {
    if (InfoOf((*entries)[i].kind).per_protocol) {
      (*entries)[i].discriminator = absl::StrJoin(protocols[find(i)], "+");
    }
  }
}

}  // namespace

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
  std::vector<Entry> entries;
  // Inside an open incident a check keeps that incident's kind until its
  // new kind held for reclassify_after (recovery is staggered; a global
  // outage recovering region by region is not "regional"). Escalating to a
  // kind grouped with the open one (REGIONAL -> GLOBAL), or from
  // PARTIAL_FAILURE to another availability kind, is immediate. The
  // checks of one open incident change kind together, when the last of
  // them has held its new kind that long: one check changing early would
  // split one fault into two incidents.
  std::array<bool, 256> blocked{};
  for (uint32_t ci : svc.checks) {
    CheckState& c = checks[ci];
    c.kind_held = false;
    for (const Finding& f : c.findings) {
      IncidentKind open_kind = f.kind;
      bool change = InfoOf(f.kind).availability &&
                    book.OpenKindFor(svc.scope, c.name, &open_kind) && open_kind != f.kind &&
                    InfoOf(f.kind).group_with != open_kind;
      // A partial failure that became an outage escalates at once, like
      // REGIONAL -> GLOBAL: the hold is for recoveries, not for getting worse.
      // So does an outage found to be a partial failure: the partial rule
      // fires only when no region is DOWN any more, and its evidence under
      // an outage's name for two minutes would say two things at once.
      if (change && (InfoOf(open_kind).share_of_outage ||
                     (InfoOf(f.kind).share_of_outage && IsOutage(open_kind)))) {
        change = false;
      }
      if (change && t - c.kind_since < reclassify_us) {
        blocked[open_kind.value()] = true;
      }
      entries.push_back(Entry{ci, &f, change ? open_kind : f.kind, "", change});
    }
  }
  for (Entry& e : entries) {
    if (e.changing) {
      if (blocked[e.kind.value()]) {
        checks[e.check].kind_held = true;
      } else {
        e.kind = e.finding->kind;
      }
    }
  }
  ProtocolDiscriminators(checks, &entries);
  for (const Entry& e : entries) {
    const CheckState& c = checks[e.check];
    const Finding& f = *e.finding;
    const IncidentKind kind = e.kind;
    const KindInfo& info = InfoOf(kind);
    Group& group = group_for(info.group_with, e.discriminator);
    DesiredIncident& d = group.d;
    FindingGroup& g = group.g;
    d.checks.push_back(c.name);
    d.hosts.push_back(c.target.host);
    d.targets.push_back(info.per_protocol ? c.target.host : c.name);
    if (g.n_checks == 0) {
      d.protocol = info.per_protocol ? e.discriminator : c.target.protocol;
    } else if (d.protocol != (info.per_protocol ? e.discriminator : c.target.protocol)) {
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
