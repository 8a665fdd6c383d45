// The JSON format of `sondectl report` (report_formats.h): a contract,
// docs/sondectl.md; change it only by adding keys.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/result_json.h"
#include "sondectl/report.h"
#include "sondectl/report_formats.h"

namespace sonde::sondectl {
namespace {

using common::AppendJsonArray;
using common::AppendJsonFields;
using common::AppendJsonString;

void AppendRow(const ReportRow& row, std::string* out) {
  *out += "{";
  AppendJsonFields({{"check", row.check}, {"service", row.service}, {"region", row.region}}, out);
  const std::string availability = AvailabilityNumber(row);
  absl::StrAppend(out, ",\"probes\":", row.probes, ",\"failures\":", row.failures,
                  ",\"availability\":", availability.empty() ? "null" : availability,
                  ",\"top_failure_class\":");
  if (row.top_failure_class.empty()) {
    *out += "null";
  } else {
    AppendJsonString(row.top_failure_class, out);
  }
  *out += ",\"last_result\":";
  if (row.last_result.has_value()) {
    AppendJsonString(FormatRfc3339(*row.last_result), out);
  } else {
    *out += "null";
  }
  *out += ",\"reachability\":";
  *out += row.has_probes() ? ReachabilityNumber(row) : "null";
  *out += "}";
}

void AppendGap(const ReportGap& gap, std::string* out) {
  *out += "{";
  AppendJsonFields({{"prober_id", gap.prober_id}, {"region", gap.region}}, out);
  absl::StrAppend(out, ",\"results\":", gap.results, ",");
  AppendJsonFields({{"from", FormatRfc3339(gap.from)}, {"to", FormatRfc3339(gap.to)}}, out);
  *out += "}";
}

}  // namespace

std::string RenderReportJson(const ReportModel& m) {
  std::string out = "{";
  AppendJsonFields({{"window", m.month.empty() ? m.window : m.month},
                    {"from", FormatRfc3339(m.from)},
                    {"to", FormatRfc3339(m.to)}},
                   &out);
  out += ",";
  AppendJsonArray("rows", m.rows, AppendRow, &out);
  out += ",";
  AppendJsonArray("gaps", m.gaps, AppendGap, &out);
  out += ",\"accounting\":{";
  for (size_t i = 0; i < m.accounting.size(); ++i) {
    if (i > 0) {
      out += ",";
    }
    AppendJsonFields({{m.accounting[i].key, m.accounting[i].text}}, &out);
  }
  out += "}}\n";
  return out;
}

}  // namespace sonde::sondectl
