// `sondectl status` as a table (state.h): services worst first, rows in the
// collector's broken-first order, the last failure below a broken row,
// --broken, and outside text escaped.
#include "sondectl/state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace sonde::sondectl {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1795252310);  // 2026-11-21T09:11:50Z

void Add(v1::StatusReply* reply, const std::string& check, const std::string& service,
         const std::string& region, const std::string& state) {
  v1::CheckRegionStatus* s = reply->add_statuses();
  s->set_check(check);
  s->set_service(service);
  s->set_region(region);
  s->set_state(state);
  s->mutable_last_result()->set_seconds(absl::ToUnixSeconds(kNow) - 7);
  s->set_failure_class(state == "UP" ? v1::FailureClass::OK : v1::FailureClass::HTTP_STATUS);
  if (state != "UP") {
    s->mutable_last_failure()->set_seconds(absl::ToUnixSeconds(kNow) - 7);
    s->set_last_failure_class(v1::FailureClass::HTTP_STATUS);
    s->set_last_failure_detail("HTTP 503\n\x1b[31mforged");
    s->add_incident_ids("app/regional_outage/1");
  }
}

TEST(StateTableTest, ServicesWorstFirstThenRowsWithTheLastFailure) {
  v1::StatusReply reply;
  Add(&reply, "login", "app", "fra", "DOWN");
  Add(&reply, "db", "data", "ams", "UP");
  Add(&reply, "login", "app", "ams", "UP");
  const std::string table = FormatStatusTable(reply, kNow, false);
  std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 9u) << table;
  EXPECT_EQ(lines[0], "SERVICE  STATE  NOT-UP");
  EXPECT_EQ(lines[1], "app      DOWN   1 of 2 check x region");
  EXPECT_EQ(lines[2], "data     UP     0 of 1 check x region");
  EXPECT_EQ(lines[3], "");
  EXPECT_EQ(lines[4].rfind("STATE  SERVICE  CHECK  REGION  LAST-RESULT  CLASS", 0), 0u) << table;
  EXPECT_EQ(lines[5].rfind("DOWN   app      login  fra     7s ago       HTTP_STATUS  "
                           "app/regional_outage/1",
                           0),
            0u)
      << table;
  EXPECT_EQ(lines[6],
            "    last failure 2026-11-21T09:11:43Z HTTP_STATUS: HTTP 503\\n\\x1b[31mforged");
  EXPECT_EQ(lines[7].rfind("UP     data", 0), 0u) << table;
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
}

TEST(StateTableTest, BrokenOnlyLeavesOutUpRowsAndCountsThem) {
  v1::StatusReply reply;
  Add(&reply, "login", "app", "fra", "DOWN");
  Add(&reply, "db", "data", "ams", "UP");
  const std::string table = FormatStatusTable(reply, kNow, true);
  EXPECT_FALSE(absl::StrContains(table, "UP     data     db")) << table;
  EXPECT_TRUE(absl::StrContains(table, "1 check x region UP, not shown")) << table;
  EXPECT_EQ(FormatStatusTable(v1::StatusReply(), kNow, false), "no checks\n");
}

TEST(StateTableTest, WorstState) {
  EXPECT_EQ(WorstState("UP", "STALE"), "STALE");
  EXPECT_EQ(WorstState("DEGRADED", "DOWN"), "DOWN");
  EXPECT_EQ(WorstState("NO_DATA", "UP"), "NO_DATA");
  EXPECT_EQ(WorstState("FLAPPING", "DEGRADED"), "FLAPPING");
}

}  // namespace
}  // namespace sonde::sondectl
