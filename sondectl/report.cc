#include "sondectl/report.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/proto_time.h"
#include "common/result_json.h"
#include "common/text/safe_text.h"

namespace sonde::sondectl {
namespace {

using common::AppendJsonString;

constexpr absl::Duration kDay = absl::Hours(24);

using common::IsSet;
using common::ToTime;

// floor(scale * (probes - failures) / probes) without floating point.
uint64_t ScaledAvailability(const v1::AvailabilityRow& row, uint64_t scale) {
  uint64_t probes = row.probes();
  uint64_t good = probes - std::min(row.failures(), probes);
  return static_cast<uint64_t>(static_cast<unsigned __int128>(good) * scale / probes);
}

std::string TopFailure(const v1::AvailabilityRow& row) {
  if (row.top_failure_class() == v1::FailureClass::UNSPECIFIED) {
    return "";
  }
  const std::string& name = v1::FailureClass::Code_Name(row.top_failure_class());
  return name.empty() ? absl::StrCat(static_cast<int>(row.top_failure_class())) : name;
}

bool BelowFull(const v1::AvailabilityRow& row) { return row.probes() > 0 && row.failures() > 0; }

}  // namespace

std::string FormatAvailabilityPercent(const v1::AvailabilityRow& row) {
  if (row.probes() == 0) {
    return "n/a";
  }
  uint64_t milli = ScaledAvailability(row, 100000);  // thousandths of a percent
  return absl::StrFormat("%d.%03d%%", milli / 1000, milli % 1000);
}

std::string FormatWindow(absl::Duration window) {
  if (window > absl::ZeroDuration()) {
    absl::Duration rest;
    int64_t days = absl::IDivDuration(window, kDay, &rest);
    if (days > 0 && rest == absl::ZeroDuration()) {
      return absl::StrCat(days, "d");
    }
  }
  return absl::FormatDuration(window);
}

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string FormatReportTable(const v1::AvailabilityReply& reply) {
  const absl::Time from = ToTime(reply.from());
  const absl::Time to = ToTime(reply.to());
  std::string out = absl::StrCat("Availability over the last ", FormatWindow(to - from), ": ",
                                 FormatRfc3339(from), " to ", FormatRfc3339(to), " (UTC)\n");
  if (reply.rows().empty()) {
    absl::StrAppend(&out, "No results in this window.\n");
    return out;
  }
  constexpr size_t kColumns = 7;
  // Numbers (PROBES, FAILED, AVAILABILITY) are right-aligned.
  constexpr std::array<bool, kColumns> kRight = {false, false, false, true, true, true, false};
  std::vector<std::array<std::string, kColumns>> cells;
  cells.push_back(
      {"CHECK", "SERVICE", "REGION", "PROBES", "FAILED", "AVAILABILITY", "TOP-FAILURE"});
  std::vector<bool> marked = {false};
  size_t below = 0;
  for (const v1::AvailabilityRow& row : reply.rows()) {
    std::string top = TopFailure(row);
    cells.push_back({SafeText(row.check_id()), SafeText(row.service()), SafeText(row.region()),
                     absl::StrCat(row.probes()), absl::StrCat(row.failures()),
                     FormatAvailabilityPercent(row), top.empty() ? "-" : top});
    marked.push_back(BelowFull(row));
    if (BelowFull(row)) {
      ++below;
    }
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
    absl::StrAppend(&out, "All ", reply.rows_size(), " rows at 100%.\n");
  } else {
    absl::StrAppend(&out, below, " of ", reply.rows_size(), " rows below 100% (marked \"!\").\n");
  }
  for (const v1::DataGap& gap : reply.gaps()) {
    absl::StrAppend(&out, "No data: region ", SafeText(gap.region()), " (prober ",
                    SafeText(gap.prober_id()), ") lost ", gap.results(), " results between ",
                    FormatRfc3339(ToTime(gap.from())), " and ", FormatRfc3339(ToTime(gap.to())),
                    " (spool full); not counted as downtime.\n");
  }
  return out;
}

std::string FormatReportJson(const v1::AvailabilityReply& reply) {
  const absl::Time from = ToTime(reply.from());
  const absl::Time to = ToTime(reply.to());
  std::string out = "{\"window\":";
  AppendJsonString(FormatWindow(to - from), &out);
  out += ",\"from\":";
  AppendJsonString(FormatRfc3339(from), &out);
  out += ",\"to\":";
  AppendJsonString(FormatRfc3339(to), &out);
  out += ",\"rows\":[";
  for (int i = 0; i < reply.rows_size(); ++i) {
    const v1::AvailabilityRow& row = reply.rows(i);
    if (i > 0) {
      out += ",";
    }
    out += "{\"check\":";
    AppendJsonString(row.check_id(), &out);
    out += ",\"service\":";
    AppendJsonString(row.service(), &out);
    out += ",\"region\":";
    AppendJsonString(row.region(), &out);
    absl::StrAppend(&out, ",\"probes\":", row.probes(), ",\"failures\":", row.failures(),
                    ",\"availability\":");
    if (row.probes() == 0) {
      out += "null";
    } else {
      // Millionths of a percent, truncated; trailing zeros dropped.
      uint64_t micro = ScaledAvailability(row, 100000000);
      std::string frac = absl::StrFormat("%06d", micro % 1000000);
      while (!frac.empty() && frac.back() == '0') {
        frac.pop_back();
      }
      absl::StrAppend(&out, micro / 1000000, frac.empty() ? "" : ".", frac);
    }
    out += ",\"top_failure_class\":";
    std::string top = TopFailure(row);
    if (top.empty()) {
      out += "null";
    } else {
      AppendJsonString(top, &out);
    }
    out += ",\"last_result\":";
    if (IsSet(row.last_result())) {
      AppendJsonString(FormatRfc3339(ToTime(row.last_result())), &out);
    } else {
      out += "null";
    }
    out += "}";
  }
  out += "],\"gaps\":[";
  for (int i = 0; i < reply.gaps_size(); ++i) {
    const v1::DataGap& gap = reply.gaps(i);
    out += i > 0 ? ",{\"prober_id\":" : "{\"prober_id\":";
    AppendJsonString(gap.prober_id(), &out);
    out += ",\"region\":";
    AppendJsonString(gap.region(), &out);
    absl::StrAppend(&out, ",\"results\":", gap.results(), ",\"from\":");
    AppendJsonString(FormatRfc3339(ToTime(gap.from())), &out);
    out += ",\"to\":";
    AppendJsonString(FormatRfc3339(ToTime(gap.to())), &out);
    out += "}";
  }
  out += "]}\n";
  return out;
}

}  // namespace sonde::sondectl
