// sondectl's report rendering: pure functions over an AvailabilityReply.
#include "sondectl/report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace sonde::sondectl {
namespace {

using FC = v1::FailureClass;

// 2024-05-01T10:00:00Z .. 11:00:00Z
constexpr int64_t kTo = 1714557600;

v1::AvailabilityRow Row(const std::string& check, const std::string& service,
                        const std::string& region, uint64_t probes, uint64_t failures, FC::Code top,
                        int64_t last) {
  v1::AvailabilityRow r;
  r.set_check_id(check);
  r.set_service(service);
  r.set_region(region);
  r.set_probes(probes);
  r.set_failures(failures);
  r.set_availability(probes == 0 ? 100 : 100.0 * (probes - failures) / probes);
  r.set_top_failure_class(top);
  r.mutable_last_result()->set_seconds(last);
  return r;
}

v1::AvailabilityReply Reply() {
  v1::AvailabilityReply reply;
  reply.mutable_from()->set_seconds(kTo - 3600);
  reply.mutable_to()->set_seconds(kTo);
  *reply.add_rows() = Row("app-login", "app", "fra", 360, 12, FC::HTTP_STATUS, kTo - 5);
  *reply.add_rows() = Row("app-tls", "app", "ams", 120, 0, FC::UNSPECIFIED, kTo - 20);
  *reply.add_rows() = Row("host1-ssh", "hosting", "fra", 200000, 1, FC::TCP_TIMEOUT, kTo - 1);
  return reply;
}

TEST(ReportTest, PercentIsTruncatedToThreeDecimals) {
  struct Case {
    uint64_t probes, failures;
    std::string want;
  };
  for (const Case& c : {Case{10, 0, "100.000%"}, Case{360, 12, "96.666%"},
                        Case{200000, 1, "99.999%"},  // 99.9995 must not read 100.000
                        Case{3, 3, "0.000%"}, Case{2, 1, "50.000%"}, Case{0, 0, "n/a"}}) {
    EXPECT_EQ(FormatAvailabilityPercent(Row("c", "s", "r", c.probes, c.failures, FC::OK, 0)),
              c.want)
        << c.probes << "/" << c.failures;
  }
}

TEST(ReportTest, WindowNames) {
  EXPECT_EQ(FormatWindow(absl::Hours(1)), "1h");
  EXPECT_EQ(FormatWindow(absl::Minutes(30)), "30m");
  EXPECT_EQ(FormatWindow(absl::Minutes(90)), "1h30m");
  EXPECT_EQ(FormatWindow(absl::Hours(24 * 7)), "7d");
  EXPECT_EQ(FormatWindow(absl::Hours(36)), "36h");
}

TEST(ReportTest, TableHasAHeaderAlignedColumnsAndMarksRowsBelow100) {
  const std::string table = FormatReportTable(Reply());
  std::vector<std::string> lines = absl::StrSplit(table, '\n');
  // header, columns, 3 rows, summary, "--", 5 accounting lines, ""
  ASSERT_EQ(lines.size(), 13u) << table;
  EXPECT_EQ(lines[0],
            "Availability over the last 1h: 2024-05-01T09:00:00Z to "
            "2024-05-01T10:00:00Z (UTC)");
  EXPECT_EQ(lines[1],
            "   CHECK      SERVICE  REGION  PROBES  FAILED  AVAILABILITY  REACHABILITY  "
            "TOP-FAILURE");
  EXPECT_EQ(lines[2],
            "!  app-login  app      fra        360      12       96.666%       96.666%  "
            "HTTP_STATUS");
  EXPECT_EQ(lines[3],
            "   app-tls    app      ams        120       0      100.000%      100.000%  -");
  EXPECT_EQ(lines[4],
            "!  host1-ssh  hosting  fra     200000       1       99.999%       99.999%  "
            "TCP_TIMEOUT");
  EXPECT_EQ(lines[5], "2 of 3 rows below 100% (marked \"!\").");
  EXPECT_EQ(lines[6], "--");
  EXPECT_EQ(lines[7].rfind("Definition: availability = (probes - failed) / probes", 0), 0u);
  EXPECT_EQ(lines[11], "Regions counted: ams, fra; each region is its own row");
  EXPECT_EQ(lines[12], "");
}

TEST(ReportTest, EmptyTableSaysSo) {
  v1::AvailabilityReply reply;
  reply.mutable_from()->set_seconds(kTo - 86400 * 7);
  reply.mutable_to()->set_seconds(kTo);
  EXPECT_EQ(FormatReportTable(reply).rfind("Availability over the last 7d: 2024-04-24T10:00:00Z to "
                                           "2024-05-01T10:00:00Z (UTC)\n"
                                           "No results in this window.\n--\nDefinition: ",
                                           0),
            0u);
}

TEST(ReportTest, JsonIsTheDocumentedFormat) {
  v1::AvailabilityReply reply = Reply();
  *reply.add_rows() = Row("odd \"name\"\\\n", "s", "ber", 0, 0, FC::PROBER_ERROR, 0);
  EXPECT_EQ(FormatReportJson(reply),
            "{\"window\":\"1h\",\"from\":\"2024-05-01T09:00:00Z\",\"to\":"
            "\"2024-05-01T10:00:00Z\","
            "\"rows\":["
            "{\"check\":\"app-login\",\"service\":\"app\",\"region\":\"fra\","
            "\"probes\":360,"
            "\"failures\":12,\"availability\":96.666666,\"top_failure_class\":"
            "\"HTTP_STATUS\","
            "\"last_result\":\"2024-05-01T09:59:55Z\",\"reachability\":96.666666},"
            "{\"check\":\"app-tls\",\"service\":\"app\",\"region\":\"ams\","
            "\"probes\":120,"
            "\"failures\":0,\"availability\":100,\"top_failure_class\":null,"
            "\"last_result\":\"2024-05-01T09:59:40Z\",\"reachability\":100},"
            "{\"check\":\"host1-ssh\",\"service\":\"hosting\",\"region\":"
            "\"fra\",\"probes\":200000,"
            "\"failures\":1,\"availability\":99.9995,\"top_failure_class\":"
            "\"TCP_TIMEOUT\","
            "\"last_result\":\"2024-05-01T09:59:59Z\",\"reachability\":99.9995},"
            "{\"check\":\"odd "
            "\\\"name\\\"\\\\\\n\",\"service\":\"s\",\"region\":\"ber\","
            "\"probes\":0,\"failures\":0,\"availability\":null,"
            "\"top_failure_class\":\"PROBER_ERROR\",\"last_result\":null,\"reachability\":null}"
            "],\"gaps\":[],\"accounting\":{\"definition\":"
            "\"availability = (probes - failed) / probes per check and region, truncated, "
            "never rounded up; from the collector's per-minute rollups\","
            "\"window\":\"last 1h, 2024-05-01T09:00:00Z to 2024-05-01T10:00:00Z, rounded out to "
            "whole minutes (rolling window)\",\"time_zone\":\"UTC\",\"exclusions\":"
            "\"PROBER_ERROR results (a fault of the prober) count neither as probes nor as "
            "failures; results probers lost (spool full) are no data, not downtime\","
            "\"regions\":\"ams, ber, fra; each region is its own row\"}}\n");
}

TEST(ReportTest, EmptyJson) {
  v1::AvailabilityReply reply;
  reply.mutable_from()->set_seconds(kTo - 1800);
  reply.mutable_to()->set_seconds(kTo);
  EXPECT_EQ(FormatReportJson(reply).rfind("{\"window\":\"30m\",\"from\":\"2024-05-01T09:30:00Z\","
                                          "\"to\":\"2024-05-01T10:00:00Z\","
                                          "\"rows\":[],\"gaps\":[],\"accounting\":{",
                                          0),
            0u);
}

}  // namespace
}  // namespace sonde::sondectl
