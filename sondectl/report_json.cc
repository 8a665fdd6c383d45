// The JSON format of `sondectl report` (report_formats.h): a contract,
// docs/sondectl.md; change it only by adding keys.
#include "absl/strings/str_cat.h"
#include "common/result_json.h"
#include "sondectl/report.h"
#include "sondectl/report_formats.h"

namespace sonde::sondectl {
namespace {

using common::AppendJsonString;

void AppendKey(const char* key, const std::string& value, std::string* out) {
  absl::StrAppend(out, "\"", key, "\":");
  AppendJsonString(value, out);
}

}  // namespace

std::string RenderReportJson(const ReportModel& m) {
  std::string out = "{";
  AppendKey("window", m.month.empty() ? m.window : m.month, &out);
  out += ",";
  AppendKey("from", FormatRfc3339(m.from), &out);
  out += ",";
  AppendKey("to", FormatRfc3339(m.to), &out);
  out += ",\"rows\":[";
  for (size_t i = 0; i < m.rows.size(); ++i) {
    const ReportRow& row = m.rows[i];
    out += i > 0 ? ",{" : "{";
    AppendKey("check", row.check, &out);
    out += ",";
    AppendKey("service", row.service, &out);
    out += ",";
    AppendKey("region", row.region, &out);
    const std::string availability = AvailabilityNumber(row);
    absl::StrAppend(&out, ",\"probes\":", row.probes, ",\"failures\":", row.failures,
                    ",\"availability\":", availability.empty() ? "null" : availability,
                    ",\"top_failure_class\":");
    if (row.top_failure_class.empty()) {
      out += "null";
    } else {
      AppendJsonString(row.top_failure_class, &out);
    }
    out += ",\"last_result\":";
    if (row.last_result.has_value()) {
      AppendJsonString(FormatRfc3339(*row.last_result), &out);
    } else {
      out += "null";
    }
    out += ",\"reachability\":";
    out += row.has_probes() ? ReachabilityNumber(row) : "null";
    out += "}";
  }
  out += "],\"gaps\":[";
  for (size_t i = 0; i < m.gaps.size(); ++i) {
    const ReportGap& gap = m.gaps[i];
    out += i > 0 ? ",{" : "{";
    AppendKey("prober_id", gap.prober_id, &out);
    out += ",";
    AppendKey("region", gap.region, &out);
    absl::StrAppend(&out, ",\"results\":", gap.results, ",");
    AppendKey("from", FormatRfc3339(gap.from), &out);
    out += ",";
    AppendKey("to", FormatRfc3339(gap.to), &out);
    out += "}";
  }
  out += "],\"accounting\":{";
  for (size_t i = 0; i < m.accounting.size(); ++i) {
    if (i > 0) {
      out += ",";
    }
    AppendKey(m.accounting[i].key.c_str(), m.accounting[i].text, &out);
  }
  out += "}}\n";
  return out;
}

}  // namespace sonde::sondectl
