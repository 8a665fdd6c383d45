#include "collector/api/status_page_builder.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"

namespace sonde::collector {
namespace {

using html::ServiceState;

bool Hidden(const std::string& kind) { return kind == "CERT_EXPIRING" || kind == "PROBER_FAULT"; }

std::string Unit(const std::string& kind) { return kind == "PROTOCOL_OUTAGE" ? "hosts" : "checks"; }

std::string Scope(const std::string& kind,
                  const google::protobuf::RepeatedPtrField<std::string>& regions) {
  std::string s = absl::AsciiStrToLower(html::StateLabel(Impact(kind, false)));
  if (kind == "GLOBAL_OUTAGE") {
    s = "major outage";
  }
  if (!regions.empty()) {
    absl::StrAppend(&s, " in ", absl::StrJoin(regions, ", "));
  }
  return absl::StrCat("Scope: ", s, " (", absl::AsciiStrToLower(kind), ")");
}

// Whether maintenance window `m` names `service` or one of its `checks`
// (a window naming neither covers everything).
bool Covers(const v1::MaintenanceWindow& m, const std::string& service,
            const std::vector<std::string>& checks) {
  if (m.services().empty() && m.checks().empty()) {
    return true;
  }
  for (const std::string& s : m.services()) {
    if (s == service) {
      return true;
    }
  }
  for (const std::string& c : m.checks()) {
    if (std::find(checks.begin(), checks.end(), c) != checks.end()) {
      return true;
    }
  }
  return false;
}

// Where a service goes on the page.
struct Placement {
  std::string group;
  std::string name;
  std::string description;
};

}  // namespace

ServiceState Impact(const std::string& kind, bool all_regions) {
  if (kind == "GLOBAL_OUTAGE") {
    return ServiceState::kMajorOutage;
  }
  if (kind == "DNS_FAILURE") {
    return all_regions ? ServiceState::kMajorOutage : ServiceState::kPartialOutage;
  }
  if (kind == "REGIONAL_OUTAGE" || kind == "PROTOCOL_OUTAGE") {
    return ServiceState::kPartialOutage;
  }
  if (Hidden(kind)) {
    return ServiceState::kOperational;
  }
  return ServiceState::kDegraded;
}

std::vector<html::TimelineLine> PublicTimeline(const v1::TimelineReply& timeline) {
  std::vector<html::TimelineLine> out;
  auto add = [&](const v1::IncidentEvent& e, std::string stage, std::string text, bool human) {
    out.push_back({common::ToTime(e.at()), std::move(stage), std::move(text), human});
  };
  for (const v1::IncidentEvent& e : timeline.events()) {
    const std::string& k = e.kind();
    if (k == "OPENED") {
      add(e, "Detected", absl::StrCat("Sonde detected failures: ", e.detail()), false);
      add(e, "Identified", Scope(e.incident_kind(), e.regions()), false);
    } else if (k == "RECLASSIFIED" || k == "REGIONS_CHANGED") {
      if (e.regions().empty()) {
        add(e, "Monitoring", "Every region recovered; watching before resolving.", false);
      } else {
        add(e, "Identified", Scope(e.incident_kind(), e.regions()), false);
      }
    } else if (k == "PROGRESS") {
      const std::string unit = Unit(e.incident_kind());
      if (e.affected_targets() > 0 && e.recovered_targets() >= e.affected_targets()) {
        add(e, "Monitoring",
            absl::StrCat("All ", e.affected_targets(), " ", unit,
                         " recovered; watching before resolving."),
            false);
      } else {
        add(e, "Recovering",
            absl::StrCat(e.recovered_targets(), " of ", e.affected_targets(), " ", unit,
                         " recovered."),
            false);
      }
    } else if (k == "RESOLVED") {
      add(e, "Resolved", absl::StrCat("Resolved: ", e.detail(), "."), false);
    } else if (k == "UPDATE") {
      add(e, "Update", e.detail(), true);
    }
  }
  // Oldest first (lines of one moment in the order written), then reversed.
  std::stable_sort(
      out.begin(), out.end(),
      [](const html::TimelineLine& a, const html::TimelineLine& b) { return a.at < b.at; });
  std::reverse(out.begin(), out.end());
  return out;
}

html::StatusPageModel BuildStatusPage(const StatusPageInputs& in) {
  const v1::Config& config = *in.config;
  const v1::StatusPage& page = config.status_page();
  html::StatusPageModel model;
  model.generated_at = in.now;
  model.days = kStatusPageDays;
  model.day_source =
      "A day's bar is the service's availability that day (UTC): the share of the time with "
      "results and outside maintenance that no outage incident covered, regional and partial "
      "outages weighted by the share affected.";
  if (!page.title().empty()) {
    model.title = page.title();
  }

  // Services: configured groups first, in order, then "Other services".
  std::set<std::string> hidden(page.hidden().begin(), page.hidden().end());
  std::map<std::string, std::vector<std::string>> checks_of;
  std::vector<std::string> service_order;
  for (const v1::Check& c : config.checks()) {
    const std::string s = c.service().empty() ? c.name() : c.service();
    if (checks_of.count(s) == 0) {
      service_order.push_back(s);
    }
    checks_of[s].push_back(c.name());
  }
  std::map<std::string, Placement> placed;
  std::vector<std::string> groups;
  for (const v1::StatusPageGroup& g : page.groups()) {
    groups.push_back(g.name());
    for (const v1::StatusPageService& s : g.services()) {
      placed[s.service()] = {g.name(), s.display_name().empty() ? s.service() : s.display_name(),
                             s.description()};
    }
  }
  const std::string kOther = page.groups().empty() ? "Services" : "Other services";
  for (const std::string& s : service_order) {
    if (placed.count(s) == 0) {
      placed[s] = {kOther, s, ""};
    }
  }
  if (std::find(groups.begin(), groups.end(), kOther) == groups.end()) {
    groups.push_back(kOther);
  }

  // Days: today and the 89 before it (UTC).
  const absl::CivilDay today = absl::ToCivilDay(in.now, absl::UTCTimeZone());
  const absl::CivilDay first = today - (kStatusPageDays - 1);
  std::map<std::string, std::vector<html::DayBar>> days;
  auto bars_of = [&](const std::string& service) -> std::vector<html::DayBar>& {
    auto [it, added] = days.try_emplace(service);
    if (added) {
      for (int i = 0; i < kStatusPageDays; ++i) {
        it->second.push_back(html::DayBar{first + i});
      }
    }
    return it->second;
  };
  std::map<std::string, double> counted;  // per service over the bars' days
  std::map<std::string, double> down;
  for (const ServiceDay& d : in.days) {
    if (d.day < first || d.day > today || d.probes <= 0) {
      continue;
    }
    html::DayBar& bar = bars_of(d.service)[d.day - first];
    bar.has_data = true;
    bar.probes = d.probes;
    bar.failures = d.failures;
    bar.availability = d.availability;
    counted[d.service] += static_cast<double>(d.counted_seconds);
    down[d.service] += d.down_seconds;
  }
  for (const v1::MaintenanceWindow& m : config.maintenance()) {
    const absl::CivilDay from = absl::ToCivilDay(common::ToTime(m.start()), absl::UTCTimeZone());
    const absl::CivilDay to = absl::ToCivilDay(common::ToTime(m.end()), absl::UTCTimeZone());
    for (const std::string& s : service_order) {
      if (!Covers(m, s, checks_of[s])) {
        continue;
      }
      for (absl::CivilDay d = std::max(from, first); d <= std::min(to, today); ++d) {
        bars_of(s)[d - first].maintenance = true;
      }
    }
  }

  // Incidents of shown services.
  std::map<std::string, ServiceState> state;
  std::map<std::string, std::set<std::string>> regions;
  std::map<std::string, std::pair<int, int>> progress;
  std::map<std::string, std::string> unit;
  std::vector<v1::TimelineReply> incidents = in.incidents;
  std::sort(incidents.begin(), incidents.end(), [](const auto& a, const auto& b) {
    const bool ao = a.incident().status() != "resolved", bo = b.incident().status() != "resolved";
    if (ao != bo) {
      return ao;
    }
    return common::ToTime(a.incident().opened_at()) > common::ToTime(b.incident().opened_at());
  });
  for (const v1::TimelineReply& t : incidents) {
    const v1::Incident& i = t.incident();
    if (Hidden(i.kind()) || hidden.count(i.service()) > 0 || placed.count(i.service()) == 0) {
      continue;
    }
    const bool open = !i.has_resolved_at();
    const bool all_regions = config.regions_size() > 0 && i.regions_size() >= config.regions_size();
    html::IncidentView v;
    v.id = i.id();
    v.service = placed[i.service()].name;
    v.kind = i.kind();
    v.impact = i.in_maintenance() ? ServiceState::kMaintenance : Impact(i.kind(), all_regions);
    v.open = open;
    v.regions.assign(i.regions().begin(), i.regions().end());
    v.affected_targets = i.affected_targets();
    v.recovered_targets = i.recovered_targets();
    v.evidence = i.evidence();
    v.opened_at = common::ToTime(i.opened_at());
    if (!open) {
      v.resolved_at = common::ToTime(i.resolved_at());
    }
    v.title = absl::StrCat(html::StateLabel(Impact(i.kind(), all_regions)), ": ", v.service);
    if (!v.regions.empty() && !all_regions) {
      absl::StrAppend(&v.title, " in ", absl::StrJoin(v.regions, ", "));
    }
    v.timeline = PublicTimeline(t);
    v.stage = v.timeline.empty() ? "Detected" : v.timeline.front().stage;
    for (const html::TimelineLine& l : v.timeline) {
      if (!l.human) {  // an Update does not change where the incident stands
        v.stage = l.stage;
        break;
      }
    }
    const absl::CivilDay opened = absl::ToCivilDay(v.opened_at, absl::UTCTimeZone());
    if (opened >= first && opened <= today) {
      bars_of(i.service())[opened - first].incidents++;
    }
    if (open) {
      if (v.impact > state[i.service()]) {
        state[i.service()] = v.impact;
      }
      regions[i.service()].insert(v.regions.begin(), v.regions.end());
      // "0 of 1 recovered" says nothing the state does not.
      if (i.affected_targets() > 1 && i.affected_targets() > progress[i.service()].first) {
        progress[i.service()] = {i.affected_targets(), i.recovered_targets()};
        unit[i.service()] = Unit(i.kind());
      }
    }
    model.incidents.push_back(std::move(v));
  }

  // Some probes failing without an incident: degraded, naming the regions.
  std::map<std::string, std::set<std::string>> failing;
  for (const ServiceRegionHealth& h : in.recent) {
    if (h.failures > 0) {
      failing[h.service].insert(h.region);
    }
  }

  for (const std::string& group : groups) {
    html::GroupView g{group, {}};
    for (const std::string& s : service_order) {
      const Placement& p = placed[s];
      if (p.group != group || hidden.count(s) > 0) {
        continue;
      }
      html::ServiceView v;
      v.service = s;
      v.name = p.name;
      v.description = p.description;
      v.state = state[s];
      if (v.state == ServiceState::kOperational) {
        bool in_window = false;
        for (const v1::MaintenanceWindow& m : config.maintenance()) {
          in_window |= common::ToTime(m.start()) <= in.now && in.now < common::ToTime(m.end()) &&
                       Covers(m, s, checks_of[s]);
        }
        if (in_window) {
          v.state = ServiceState::kMaintenance;
        } else if (failing.count(s) > 0) {
          v.state = ServiceState::kDegraded;
          regions[s] = failing[s];
        }
      }
      v.regions.assign(regions[s].begin(), regions[s].end());
      v.affected_targets = progress[s].first;
      v.recovered_targets = progress[s].second;
      v.target_unit = unit.count(s) > 0 ? unit[s] : "checks";
      v.days = bars_of(s);
      int64_t probes = 0;
      for (const html::DayBar& d : v.days) {
        probes += d.probes;
      }
      v.has_data = probes > 0;
      v.availability =
          counted[s] > 0 ? 100.0 * std::max(0.0, counted[s] - down[s]) / counted[s] : 100;
      if (v.state > model.overall) {
        model.overall = v.state;
      }
      g.services.push_back(std::move(v));
    }
    if (!g.services.empty()) {
      model.groups.push_back(std::move(g));
    }
  }

  // Maintenance ongoing or ahead, soonest first.
  for (const v1::MaintenanceWindow& m : config.maintenance()) {
    const absl::Time start = common::ToTime(m.start()), end = common::ToTime(m.end());
    if (end <= in.now) {
      continue;
    }
    html::MaintenanceView v{m.name(), m.reason(), {}, start, end, start <= in.now};
    for (const std::string& s : m.services()) {
      if (hidden.count(s) == 0 && placed.count(s) > 0) {
        v.services.push_back(placed[s].name);
      }
    }
    for (const std::string& s : service_order) {  // services of the checks it names
      if (!m.checks().empty() && hidden.count(s) == 0 &&
          std::find(v.services.begin(), v.services.end(), placed[s].name) == v.services.end() &&
          Covers(m, s, checks_of[s])) {
        v.services.push_back(placed[s].name);
      }
    }
    model.maintenance.push_back(std::move(v));
  }
  std::sort(model.maintenance.begin(), model.maintenance.end(),
            [](const auto& a, const auto& b) { return a.start < b.start; });
  return model;
}

}  // namespace sonde::collector
