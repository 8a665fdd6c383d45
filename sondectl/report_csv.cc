// The CSV format of `sondectl report` (report_formats.h): RFC 4180 with a
// "#" trailer for the gaps and the accounting footer (docs/sondectl.md).
#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "common/text/safe_text.h"
#include "sondectl/report.h"
#include "sondectl/report_formats.h"

namespace sonde::sondectl {
namespace {

constexpr char kEol[] = "\r\n";

void AppendRecord(std::initializer_list<std::string> cells, std::string* out) {
  bool first = true;
  for (const std::string& cell : cells) {
    if (!first) {
      *out += ",";
    }
    first = false;
    *out += CsvCell(cell);
  }
  *out += kEol;
}

}  // namespace

std::string CsvCell(absl::string_view text) {
  std::string cell = SafeText(text);
  // A spreadsheet runs a cell starting with one of these as a formula.
  if (!cell.empty() && (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' || cell[0] == '@' ||
                        cell[0] == '\t' || cell[0] == '\r')) {
    cell.insert(0, "'");
  }
  // Quoted also when it starts with "#", so no record reads as a trailer line.
  if (cell.find_first_of(",\"\r\n") == std::string::npos && (cell.empty() || cell[0] != '#')) {
    return cell;
  }
  std::string quoted = "\"";
  for (char c : cell) {
    quoted += c;
    if (c == '"') {
      quoted += '"';
    }
  }
  quoted += "\"";
  return quoted;
}

std::string RenderReportCsv(const ReportModel& m) {
  std::string out;
  AppendRecord({"check", "service", "region", "probes", "failures", "availability",
                "top_failure_class", "last_result", "window_from", "window_to", "reachability"},
               &out);
  for (const ReportRow& row : m.rows) {
    AppendRecord({row.check, row.service, row.region, absl::StrCat(row.probes),
                  absl::StrCat(row.failures), AvailabilityNumber(row), row.top_failure_class,
                  row.last_result.has_value() ? FormatRfc3339(*row.last_result) : "",
                  FormatRfc3339(m.from), FormatRfc3339(m.to), ReachabilityNumber(row)},
                 &out);
  }
  // The trailer: comment lines a reader skips (pandas comment='#').
  for (const ReportGap& gap : m.gaps) {
    absl::StrAppend(&out, "# no data: region ", SafeText(gap.region), " prober ",
                    SafeText(gap.prober_id), " lost ", gap.results, " results between ",
                    FormatRfc3339(gap.from), " and ", FormatRfc3339(gap.to),
                    " (spool full; not downtime)", kEol);
  }
  for (const AccountingLine& line : m.accounting) {
    absl::StrAppend(&out, "# ", line.key, ": ", SafeText(line.text), kEol);
  }
  return out;
}

}  // namespace sonde::sondectl
