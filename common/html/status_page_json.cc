#include "common/html/status_page_json.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/html/view.h"
#include "common/result_json.h"

namespace sonde::html {
namespace {

using common::AppendJsonArray;
using common::AppendJsonFields;

void Strings(absl::string_view key, const std::vector<std::string>& values, std::string* out) {
  AppendJsonArray(key, values, common::AppendJsonString, out);
}

std::string Number(double v) { return absl::StrFormat("%.4f", v); }

void AppendDay(const DayBar& d, std::string* out) {
  absl::StrAppend(out, "{\"day\":\"", absl::FormatCivilTime(d.day),
                  "\",\"availability\":", d.has_data ? Number(d.availability) : "null",
                  ",\"probes\":", d.probes, ",\"failures\":", d.failures,
                  ",\"incidents\":", d.incidents,
                  ",\"maintenance\":", d.maintenance ? "true" : "false", "}");
}

void AppendService(const ServiceView& s, std::string* out) {
  out->push_back('{');
  AppendJsonFields({{"service", s.service},
                    {"name", s.name},
                    {"description", s.description},
                    {"state", StateName(s.state)}},
                   out);
  out->push_back(',');
  Strings("regions", s.regions, out);
  absl::StrAppend(out, ",\"affected_targets\":", s.affected_targets,
                  ",\"recovered_targets\":", s.recovered_targets,
                  ",\"availability\":", s.has_data ? Number(s.availability) : "null", ",");
  AppendJsonArray("days", s.days, AppendDay, out);
  out->push_back('}');
}

void AppendTimelineLine(const TimelineLine& l, std::string* out) {
  absl::StrAppend(out, "{\"at\":\"", IsoTime(l.at), "\",");
  AppendJsonFields({{"stage", l.stage}, {"text", l.text}}, out);
  absl::StrAppend(out, ",\"human\":", l.human ? "true" : "false", "}");
}

void AppendIncident(const IncidentView& i, std::string* out) {
  out->push_back('{');
  AppendJsonFields({{"id", i.id},
                    {"service", i.service},
                    {"title", i.title},
                    {"kind", i.kind},
                    {"impact", StateName(i.impact)},
                    {"status", i.open ? "open" : "resolved"},
                    {"stage", i.stage}},
                   out);
  out->push_back(',');
  Strings("regions", i.regions, out);
  absl::StrAppend(out, ",\"affected_targets\":", i.affected_targets,
                  ",\"recovered_targets\":", i.recovered_targets, ",");
  AppendJsonFields({{"evidence", i.evidence}}, out);
  absl::StrAppend(out, ",\"opened_at\":\"", IsoTime(i.opened_at), "\",\"resolved_at\":");
  if (i.open) {
    out->append("null");
  } else {
    absl::StrAppend(out, "\"", IsoTime(i.resolved_at), "\"");
  }
  out->push_back(',');
  AppendJsonArray("timeline", i.timeline, AppendTimelineLine, out);
  out->push_back('}');
}

void AppendMaintenance(const MaintenanceView& m, std::string* out) {
  out->push_back('{');
  AppendJsonFields({{"name", m.name}, {"reason", m.reason}}, out);
  out->push_back(',');
  Strings("services", m.services, out);
  absl::StrAppend(out, ",\"start\":\"", IsoTime(m.start), "\",\"end\":\"", IsoTime(m.end),
                  "\",\"ongoing\":", m.ongoing ? "true" : "false", "}");
}

void AppendGroup(const GroupView& g, std::string* out) {
  out->push_back('{');
  AppendJsonFields({{"name", g.name}}, out);
  out->push_back(',');
  AppendJsonArray("services", g.services, AppendService, out);
  out->push_back('}');
}

}  // namespace

std::string StatusJson(const StatusPageModel& model) {
  std::string out = "{\"version\":1,";
  AppendJsonFields({{"title", model.title}}, &out);
  absl::StrAppend(&out, ",\"generated_at\":\"", IsoTime(model.generated_at), "\",");
  AppendJsonFields({{"state", StateName(model.overall)}, {"day_source", model.day_source}}, &out);
  out.push_back(',');
  AppendJsonArray("groups", model.groups, AppendGroup, &out);
  out.push_back(',');
  AppendJsonArray("incidents", model.incidents, AppendIncident, &out);
  out.push_back(',');
  AppendJsonArray("maintenance", model.maintenance, AppendMaintenance, &out);
  out.append("}\n");
  return out;
}

std::string ShieldsJson(const ServiceView& service) {
  std::string out = "{\"schemaVersion\":1,";
  AppendJsonFields({{"label", service.name},
                    {"message", absl::AsciiStrToLower(StateLabel(service.state))},
                    {"color", StateColor(service.state)}},
                   &out);
  out.append("}\n");
  return out;
}

}  // namespace sonde::html
