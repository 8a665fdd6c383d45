#include "common/html/status_page_json.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/html/view.h"
#include "common/result_json.h"

namespace sonde::html {
namespace {

// Appends `"key":` and the string value.
void Field(absl::string_view key, absl::string_view value, std::string* out) {
  common::AppendJsonString(key, out);
  out->push_back(':');
  common::AppendJsonString(value, out);
}

void Strings(absl::string_view key, const std::vector<std::string>& values, std::string* out) {
  common::AppendJsonString(key, out);
  out->append(":[");
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      out->push_back(',');
    }
    common::AppendJsonString(values[i], out);
  }
  out->push_back(']');
}

std::string Number(double v) { return absl::StrFormat("%.4f", v); }

void AppendService(const ServiceView& s, std::string* out) {
  out->push_back('{');
  Field("service", s.service, out);
  out->push_back(',');
  Field("name", s.name, out);
  out->push_back(',');
  Field("description", s.description, out);
  out->push_back(',');
  Field("state", StateName(s.state), out);
  out->push_back(',');
  Strings("regions", s.regions, out);
  absl::StrAppend(out, ",\"affected_targets\":", s.affected_targets,
                  ",\"recovered_targets\":", s.recovered_targets,
                  ",\"availability\":", s.has_data ? Number(s.availability) : "null",
                  ",\"days\":[");
  for (size_t i = 0; i < s.days.size(); ++i) {
    const DayBar& d = s.days[i];
    absl::StrAppend(out, i > 0 ? "," : "", "{\"day\":\"", absl::FormatCivilTime(d.day),
                    "\",\"availability\":", d.has_data ? Number(d.availability) : "null",
                    ",\"probes\":", d.probes, ",\"failures\":", d.failures,
                    ",\"incidents\":", d.incidents,
                    ",\"maintenance\":", d.maintenance ? "true" : "false", "}");
  }
  out->append("]}");
}

void AppendIncident(const IncidentView& i, std::string* out) {
  out->push_back('{');
  Field("id", i.id, out);
  out->push_back(',');
  Field("service", i.service, out);
  out->push_back(',');
  Field("title", i.title, out);
  out->push_back(',');
  Field("kind", i.kind, out);
  out->push_back(',');
  Field("impact", StateName(i.impact), out);
  out->push_back(',');
  Field("status", i.open ? "open" : "resolved", out);
  out->push_back(',');
  Field("stage", i.stage, out);
  out->push_back(',');
  Strings("regions", i.regions, out);
  absl::StrAppend(out, ",\"affected_targets\":", i.affected_targets,
                  ",\"recovered_targets\":", i.recovered_targets, ",");
  Field("evidence", i.evidence, out);
  absl::StrAppend(out, ",\"opened_at\":\"", IsoTime(i.opened_at), "\",\"resolved_at\":");
  if (i.open) {
    out->append("null");
  } else {
    absl::StrAppend(out, "\"", IsoTime(i.resolved_at), "\"");
  }
  out->append(",\"timeline\":[");
  for (size_t n = 0; n < i.timeline.size(); ++n) {
    const TimelineLine& l = i.timeline[n];
    absl::StrAppend(out, n > 0 ? "," : "", "{\"at\":\"", IsoTime(l.at), "\",");
    Field("stage", l.stage, out);
    out->push_back(',');
    Field("text", l.text, out);
    absl::StrAppend(out, ",\"human\":", l.human ? "true" : "false", "}");
  }
  out->append("]}");
}

}  // namespace

std::string StatusJson(const StatusPageModel& model) {
  std::string out = "{\"version\":1,";
  Field("title", model.title, &out);
  absl::StrAppend(&out, ",\"generated_at\":\"", IsoTime(model.generated_at), "\",");
  Field("state", StateName(model.overall), &out);
  out.push_back(',');
  Field("day_source", model.day_source, &out);
  out.append(",\"groups\":[");
  for (size_t g = 0; g < model.groups.size(); ++g) {
    out.append(g > 0 ? ",{" : "{");
    Field("name", model.groups[g].name, &out);
    out.append(",\"services\":[");
    for (size_t s = 0; s < model.groups[g].services.size(); ++s) {
      if (s > 0) {
        out.push_back(',');
      }
      AppendService(model.groups[g].services[s], &out);
    }
    out.append("]}");
  }
  out.append("],\"incidents\":[");
  for (size_t i = 0; i < model.incidents.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    AppendIncident(model.incidents[i], &out);
  }
  out.append("],\"maintenance\":[");
  for (size_t i = 0; i < model.maintenance.size(); ++i) {
    const MaintenanceView& m = model.maintenance[i];
    out.append(i > 0 ? ",{" : "{");
    Field("name", m.name, &out);
    out.push_back(',');
    Field("reason", m.reason, &out);
    out.push_back(',');
    Strings("services", m.services, &out);
    absl::StrAppend(&out, ",\"start\":\"", IsoTime(m.start), "\",\"end\":\"", IsoTime(m.end),
                    "\",\"ongoing\":", m.ongoing ? "true" : "false", "}");
  }
  out.append("]}\n");
  return out;
}

std::string ShieldsJson(const ServiceView& service) {
  std::string out = "{\"schemaVersion\":1,";
  Field("label", service.name, &out);
  out.push_back(',');
  Field("message", absl::AsciiStrToLower(StateLabel(service.state)), &out);
  out.push_back(',');
  Field("color", StateColor(service.state), &out);
  out.append("}\n");
  return out;
}

}  // namespace sonde::html
