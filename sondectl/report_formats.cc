#include "sondectl/report_formats.h"

namespace sonde::sondectl {
namespace {

// The formats in the order --help lists them.
constexpr ReportFormat kFormats[] = {
    {"table", "aligned columns for people (the default)", RenderReportTable},
    {"json", "one line of JSON for scripts (docs/sondectl.md)", RenderReportJson},
    {"csv", "RFC 4180 CSV for spreadsheets, footer as # lines", RenderReportCsv},
    {"html", "one self-contained HTML file: day bars, incidents, footer", RenderReportHtml, true},
};

}  // namespace

const ReportFormat* FindReportFormat(absl::string_view name) {
  for (const ReportFormat& f : kFormats) {
    if (name == f.name) {
      return &f;
    }
  }
  return nullptr;
}

std::vector<std::string> ReportFormatNames() {
  std::vector<std::string> out;
  for (const ReportFormat& f : kFormats) {
    out.emplace_back(f.name);
  }
  return out;
}

}  // namespace sonde::sondectl
