#include "common/html/status_page_html.h"

#include <algorithm>
#include <mstch/mstch.hpp>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/html/templates.h"
#include "common/html/view.h"

namespace sonde::html {
namespace {

// How many days the page's "no incidents in the last N days" names.
constexpr int kRecentDays = 14;

std::string Progress(const ServiceView& s) {
  if (s.affected_targets <= 0) {
    return "";
  }
  return absl::StrCat(s.recovered_targets, " of ", s.affected_targets, " ", s.target_unit,
                      " recovered");
}

mstch::map ServiceNode(const ServiceView& s, int days) {
  const std::string progress = Progress(s);
  return mstch::map{
      {"service", s.service},
      {"name", s.name},
      {"description", s.description},
      {"has_description", !s.description.empty()},
      {"state_name", Text(StateName(s.state))},
      {"state_label", Text(StateLabel(s.state))},
      {"has_regions", !s.regions.empty()},
      {"regions", JoinText(s.regions)},
      {"has_progress", !progress.empty()},
      {"progress", progress},
      {"daybars", BarsView(s.days, absl::StrCat(s.name, ": availability per day"))},
      {"days", days},
      {"availability",
       s.has_data ? absl::StrCat(Percent(s.availability), " available") : std::string("no data")},
  };
}

std::string Anchor(const std::string& id) {
  std::string a = id;
  for (char& c : a) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      c = '-';
    }
  }
  return a;
}

mstch::map IncidentNode(const IncidentView& i) {
  mstch::array lines;
  for (const TimelineLine& l : i.timeline) {
    lines.push_back(mstch::map{{"iso", IsoTime(l.at)},
                               {"when", HumanTime(l.at)},
                               {"stage", l.stage},
                               {"text", l.text},
                               {"human", l.human}});
  }
  return mstch::map{
      {"anchor", Anchor(i.id)},
      {"state", Text(i.open ? "open" : "resolved")},
      {"state_text", Text(i.open ? StateLabel(i.impact) : "Resolved")},
      {"kind", i.kind},
      {"title", i.title},
      {"stage", i.stage},
      {"opened_iso", IsoTime(i.opened_at)},
      {"opened", HumanTime(i.opened_at)},
      {"has_regions", !i.regions.empty()},
      {"regions", JoinText(i.regions)},
      {"has_evidence", !i.evidence.empty()},
      {"evidence", i.evidence},
      {"timeline", lines},
  };
}

}  // namespace

std::string RenderStatusPage(const StatusPageModel& model) {
  mstch::array groups;
  for (const GroupView& g : model.groups) {
    mstch::array services;
    for (const ServiceView& s : g.services) {
      services.push_back(ServiceNode(s, model.days));
    }
    groups.push_back(mstch::map{{"name", g.name}, {"services", services}});
  }
  mstch::array incidents;
  for (const IncidentView& i : model.incidents) {
    incidents.push_back(IncidentNode(i));
  }
  mstch::array maintenance;
  for (const MaintenanceView& m : model.maintenance) {
    maintenance.push_back(mstch::map{
        {"name", m.name},
        {"has_reason", !m.reason.empty()},
        {"reason", m.reason},
        {"services", m.services.empty() ? std::string("all services") : JoinText(m.services)},
        {"when", absl::StrCat(HumanTime(m.start), " to ", HumanTime(m.end))},
        {"ongoing", m.ongoing},
    });
  }
  const std::string overall = model.overall == ServiceState::kOperational
                                  ? "All systems operational"
                              : model.overall == ServiceState::kMaintenance
                                  ? "Maintenance in progress"
                                  : absl::StrCat(StateLabel(model.overall), " of some services");
  mstch::map root{
      {"title", model.title},
      {"feed", true},
      {"overall_name", Text(StateName(model.overall))},
      {"overall_label", overall},
      {"has_maintenance", !model.maintenance.empty()},
      {"maintenance", maintenance},
      {"groups", groups},
      {"day_source", model.day_source},
      {"has_incidents", !model.incidents.empty()},
      {"recent_days", kRecentDays},
      {"incidents", incidents},
      {"generated_iso", IsoTime(model.generated_at)},
      {"generated", HumanTime(model.generated_at)},
  };
  return mstch::render(kStatusPageTemplate, root, Partials());
}

std::string RenderAtomFeed(const StatusPageModel& model) {
  struct Entry {
    absl::Time updated;
    mstch::map node;
  };
  std::vector<Entry> entries;
  for (const IncidentView& i : model.incidents) {
    std::string content;
    absl::Time updated = i.opened_at;
    for (const TimelineLine& l : i.timeline) {
      absl::StrAppend(&content, HumanTime(l.at), " ", l.stage, ": ", l.text, "\n");
      updated = std::max(updated, l.at);
      if (l.human) {
        entries.push_back(
            {l.at, mstch::map{{"id", absl::StrCat("update:", i.id, ":", absl::ToUnixMicros(l.at))},
                              {"title", absl::StrCat("Update: ", i.title)},
                              {"updated", IsoTime(l.at)},
                              {"anchor", Anchor(i.id)},
                              {"content", l.text}}});
      }
    }
    entries.push_back({updated, mstch::map{{"id", absl::StrCat("incident:", i.id)},
                                           {"title", i.title},
                                           {"updated", IsoTime(updated)},
                                           {"anchor", Anchor(i.id)},
                                           {"content", content}}});
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.updated > b.updated; });
  mstch::array nodes;
  for (Entry& e : entries) {
    nodes.push_back(std::move(e.node));
  }
  const absl::Time updated = entries.empty() ? model.generated_at : entries.front().updated;
  return mstch::render(
      kAtomTemplate,
      mstch::map{{"title", model.title}, {"updated", IsoTime(updated)}, {"entries", nodes}});
}

std::string RenderBadgeSvg(const ServiceView& service) {
  // Widths from the character count at 11 px DejaVu Sans (~6.5 px each).
  const std::string message = absl::AsciiStrToLower(StateLabel(service.state));
  const int label_width = 10 + static_cast<int>(service.name.size()) * 7;
  const int message_width = 10 + static_cast<int>(message.size()) * 7;
  return mstch::render(kBadgeTemplate, mstch::map{{"width", label_width + message_width},
                                                  {"label", service.name},
                                                  {"message", message},
                                                  {"label_width", label_width},
                                                  {"message_width", message_width},
                                                  {"label_x", label_width / 2},
                                                  {"message_x", label_width + message_width / 2},
                                                  {"color", Text(StateColor(service.state))}});
}

}  // namespace sonde::html
