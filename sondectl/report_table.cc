// The table format of `sondectl report` (report_formats.h).
#include <algorithm>
#include <array>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/text/safe_text.h"
#include "sondectl/report.h"
#include "sondectl/report_formats.h"

namespace sonde::sondectl {

std::string RenderReportTable(const ReportModel& m) {
  std::string out = absl::StrCat(
      "Availability ",
      m.month.empty() ? absl::StrCat("over the last ", m.window) : absl::StrCat("in ", m.month),
      ": ", FormatRfc3339(m.from), " to ", FormatRfc3339(m.to), " (UTC)",
      m.service.empty() ? "" : ", service ", SafeText(m.service), "\n");
  if (m.rows.empty()) {
    absl::StrAppend(&out, "No results in this window.\n");
  } else {
    constexpr size_t kColumns = 8;
    // Numbers (PROBES, FAILED, AVAILABILITY, REACHABILITY) are right-aligned.
    constexpr std::array<bool, kColumns> kRight = {false, false, false, true,
                                                   true,  true,  true,  false};
    std::vector<std::array<std::string, kColumns>> cells;
    cells.push_back({"CHECK", "SERVICE", "REGION", "PROBES", "FAILED", "AVAILABILITY",
                     "REACHABILITY", "TOP-FAILURE"});
    std::vector<bool> marked = {false};
    size_t below = 0;
    for (const ReportRow& row : m.rows) {
      cells.push_back({SafeText(row.check), SafeText(row.service), SafeText(row.region),
                       absl::StrCat(row.probes), absl::StrCat(row.failures),
                       AvailabilityPercent(row), ReachabilityPercent(row),
                       row.top_failure_class.empty() ? "-" : SafeText(row.top_failure_class)});
      marked.push_back(row.below_full());
      below += row.below_full() ? 1 : 0;
    }
    std::array<size_t, kColumns> width{};
    for (const auto& line : cells) {
      for (size_t i = 0; i < kColumns; ++i) {
        width[i] = std::max(width[i], line[i].size());
      }
    }
    for (size_t r = 0; r < cells.size(); ++r) {
      std::string line = marked[r] ? "!" : " ";
      for (size_t i = 0; i < kColumns; ++i) {
        const std::string& cell = cells[r][i];
        std::string pad(width[i] - cell.size(), ' ');
        line += "  ";
        if (kRight[i]) {
          absl::StrAppend(&line, pad, cell);
        } else if (i + 1 < kColumns) {
          absl::StrAppend(&line, cell, pad);
        } else {
          line += cell;  // no trailing blanks
        }
      }
      absl::StrAppend(&out, line, "\n");
    }
    if (below == 0) {
      absl::StrAppend(&out, "All ", m.rows.size(), " rows at 100%.\n");
    } else {
      absl::StrAppend(&out, below, " of ", m.rows.size(), " rows below 100% (marked \"!\").\n");
    }
  }
  for (const ReportGap& gap : m.gaps) {
    absl::StrAppend(&out, DescribeGap(gap), "\n");
  }
  absl::StrAppend(&out, "--\n");
  for (const AccountingLine& line : m.accounting) {
    absl::StrAppend(&out, line.label, ": ", SafeText(line.text), "\n");
  }
  return out;
}

}  // namespace sonde::sondectl
