// Every format of `sondectl report` (report_formats.h): the registry, the
// accounting footer in each, CSV quoting (RFC 4180) and its formula guard,
// and hostile names that must not reach a terminal or a spreadsheet as
// anything but text.
#include "sondectl/report_formats.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "sondectl/report_model.h"

namespace sonde::sondectl {
namespace {

constexpr int64_t kTo = 1714557600;  // 2024-05-01T10:00:00Z

v1::AvailabilityReply Reply(const std::string& check) {
  v1::AvailabilityReply reply;
  reply.mutable_from()->set_seconds(kTo - 86400 * 30);
  reply.mutable_to()->set_seconds(kTo);
  v1::AvailabilityRow* r = reply.add_rows();
  r->set_check_id(check);
  r->set_service("app");
  r->set_region("fra");
  r->set_probes(1000);
  r->set_failures(1);
  r->set_top_failure_class(v1::FailureClass::HTTP_STATUS);
  r->mutable_last_result()->set_seconds(kTo - 10);
  v1::AvailabilityRow* other = reply.add_rows();
  other->set_check_id("db");
  other->set_service("data");
  other->set_region("ams");
  other->set_probes(10);
  v1::DataGap* gap = reply.add_gaps();
  gap->set_prober_id("p1");
  gap->set_region("ams");
  gap->set_results(12);
  gap->mutable_from()->set_seconds(kTo - 600);
  gap->mutable_to()->set_seconds(kTo - 300);
  return reply;
}

// `text` as mstch writes it into HTML.
std::string AsHtml(const std::string& text) {
  return absl::StrReplaceAll(text, {{"&", "&amp;"},
                                    {"<", "&lt;"},
                                    {">", "&gt;"},
                                    {"\"", "&quot;"},
                                    {"'", "&#39;"},
                                    {"/", "&#x2F;"}});
}

TEST(ReportFormatsTest, RegistryNamesEveryFormatOnce) {
  EXPECT_EQ(ReportFormatNames(), (std::vector<std::string>{"table", "json", "csv", "html"}));
  for (const std::string& name : ReportFormatNames()) {
    ASSERT_NE(FindReportFormat(name), nullptr) << name;
    EXPECT_EQ(FindReportFormat(name)->name, name);
  }
  EXPECT_EQ(FindReportFormat("html "), nullptr);
  EXPECT_EQ(FindReportFormat(""), nullptr);
}

// The accounting method is part of every format, whatever the rows.
TEST(ReportFormatsTest, EveryFormatPrintsTheAccountingFooter) {
  for (const v1::AvailabilityReply& reply : {Reply("web"), v1::AvailabilityReply()}) {
    const ReportModel model = ModelFromAvailability(reply, "");
    ASSERT_EQ(model.accounting.size(), 5u);
    for (const std::string& name : ReportFormatNames()) {
      const std::string out = FindReportFormat(name)->render(model);
      for (const AccountingLine& line : model.accounting) {
        SCOPED_TRACE(name + " " + line.key);
        if (name == "table") {
          EXPECT_TRUE(absl::StrContains(out, "\n" + line.label + ": " + line.text + "\n")) << out;
        } else if (name == "json") {
          EXPECT_TRUE(absl::StrContains(out, "\"" + line.key + "\":\"" + line.text + "\"")) << out;
        } else if (name == "html") {
          EXPECT_TRUE(
              absl::StrContains(out, "<li>" + line.label + ": " + AsHtml(line.text) + "</li>"))
              << out;
        } else {
          EXPECT_TRUE(absl::StrContains(out, "\r\n# " + line.key + ": " + line.text + "\r\n"))
              << out;
        }
      }
    }
  }
}

TEST(ReportFormatsTest, CsvIsRfc4180WithATrailer) {
  const std::string csv = RenderReportCsv(ModelFromAvailability(Reply("web"), ""));
  std::vector<std::string> lines = absl::StrSplit(csv, "\r\n");
  ASSERT_GE(lines.size(), 5u) << csv;
  EXPECT_EQ(lines[0],
            "check,service,region,probes,failures,availability,top_failure_class,last_result,"
            "window_from,window_to,reachability");
  EXPECT_EQ(lines[1],
            "web,app,fra,1000,1,99.9,HTTP_STATUS,2024-05-01T09:59:50Z,2024-04-01T10:00:00Z,"
            "2024-05-01T10:00:00Z,99.9");
  EXPECT_EQ(lines[2], "db,data,ams,10,0,100,,,2024-04-01T10:00:00Z,2024-05-01T10:00:00Z,100");
  EXPECT_EQ(lines[3],
            "# no data: region ams prober p1 lost 12 results between 2024-05-01T09:50:00Z and "
            "2024-05-01T09:55:00Z (spool full; not downtime)");
  EXPECT_EQ(lines.back(), "");  // every record ends with CRLF
  // Nothing but the trailer starts with "#".
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NE(lines[i][0], '#');
  }
}

TEST(ReportFormatsTest, CsvCellsAreQuotedAndFormulasNeutralised) {
  struct Case {
    std::string in, want;
  };
  for (const Case& c : {
           Case{"plain", "plain"},
           Case{"a,b", "\"a,b\""},
           Case{"say \"hi\"", "\"say \"\"hi\"\"\""},
           Case{"=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\""},
           Case{"+1", "'+1"},
           Case{"-2+3", "'-2+3"},
           Case{"@SUM(A1)", "'@SUM(A1)"},
           Case{"\tx", "\\tx"},                  // SafeText escapes the tab first
           Case{"line\nbreak", "line\\nbreak"},  // never a multi-line cell
           Case{"#not-a-comment", "\"#not-a-comment\""},
           Case{"", ""},
       }) {
    EXPECT_EQ(CsvCell(c.in), c.want) << c.in;
  }
}

// A check name from the config can hold anything: it must not move the
// terminal's cursor, forge a line, run as a spreadsheet formula or break
// the JSON.
TEST(ReportFormatsTest, HostileNamesStayText) {
  const std::string hostile = "=cmd|' /C calc'!A0\n\x1b[2J\x1b]0;pwned\x07,\"x\"";
  const ReportModel model = ModelFromAvailability(Reply(hostile), "");
  const std::string table = RenderReportTable(model);
  const std::string csv = RenderReportCsv(model);
  const std::string json = RenderReportJson(model);
  for (const std::string* out : {&table, &csv, &json}) {
    EXPECT_EQ(out->find('\x1b'), std::string::npos) << *out;
    EXPECT_EQ(out->find('\x07'), std::string::npos) << *out;
  }
  EXPECT_TRUE(absl::StrContains(table, "=cmd|' /C calc'!A0\\n\\x1b[2J")) << table;
  std::vector<std::string> lines = absl::StrSplit(csv, "\r\n");
  EXPECT_EQ(
      lines[1].rfind("\"'=cmd|' /C calc'!A0\\n\\x1b[2J\\x1b]0;pwned\\x07,\"\"x\"\"\",app,fra,", 0),
      0u)
      << csv;
  EXPECT_TRUE(absl::StrContains(json, "\"check\":\"=cmd|' /C calc'!A0\\n\\u001b[2J")) << json;
}

TEST(ReportFormatsTest, ServiceFilterKeepsOnlyThatServiceAndSaysSo) {
  const ReportModel model = ModelFromAvailability(Reply("web"), "data");
  ASSERT_EQ(model.rows.size(), 1u);
  EXPECT_EQ(model.rows[0].check, "db");
  EXPECT_TRUE(absl::StrContains(RenderReportTable(model), "(UTC), service data\n"));
  EXPECT_EQ(model.accounting.back().text, "ams; each region is its own row");
}

// A collector that computes availability (docs/availability.md) sends its
// accounting method: the footer is the collector's, availability its
// time-based number, reachability the probe share.
TEST(ReportFormatsTest, TheCollectorsAccountingMethodAndAvailabilityWin) {
  v1::AvailabilityReply reply = Reply("web");
  reply.mutable_rows(0)->set_availability(98.25);
  v1::AccountingMethod* m = reply.mutable_method();
  m->set_definition("availability: time not in an outage incident");
  m->set_window("calendar month 2026-11");
  m->set_time_zone("Europe/Berlin");
  *m->mutable_from() = reply.from();
  *m->mutable_to() = reply.to();
  m->add_exclusions("maintenance: db 2026-11-03T01:00:00Z - 02:00");
  m->add_regions("ams");
  m->add_regions("fra");
  m->set_source("rollup_minute");
  ReportModel model = ModelFromAvailability(reply, "");
  model.month = "2026-11";
  ASSERT_EQ(model.accounting.size(), 6u);
  EXPECT_EQ(model.accounting[1].text,
            "calendar month 2026-11, 2024-04-01T10:00:00Z to 2024-05-01T10:00:00Z");
  EXPECT_EQ(model.accounting[2].text, "Europe/Berlin");
  EXPECT_EQ(model.accounting[4].text, "ams, fra");
  const std::string json = RenderReportJson(model);
  EXPECT_TRUE(absl::StartsWith(json, "{\"window\":\"2026-11\",")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"availability\":98.25,")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"reachability\":99.9}")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"source\":\"rollup_minute\"}}")) << json;
  const std::string table = RenderReportTable(model);
  EXPECT_TRUE(absl::StartsWith(table, "Availability in 2026-11: ")) << table;
  EXPECT_TRUE(absl::StrContains(table, "98.250%       99.900%")) << table;
  EXPECT_TRUE(absl::StrContains(table, "\nTime zone: Europe/Berlin\n")) << table;
}

}  // namespace
}  // namespace sonde::sondectl
