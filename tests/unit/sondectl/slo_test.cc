// `sondectl slo` as a table (slo.h): worst budget first, spent budgets
// marked, burn rates, the accounting line per SLO, outside text escaped.
#include "sondectl/slo.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace sonde::sondectl {
namespace {

v1::SloStatus Slo(const std::string& name, double budget) {
  v1::SloStatus s;
  s.mutable_spec()->set_name(name);
  s.mutable_spec()->set_service("app");
  s.mutable_spec()->set_target_percent(99.9);
  s.mutable_spec()->set_window("30d");
  s.mutable_spec()->set_method("occurrences");
  s.set_sli_percent(99.95);
  s.set_budget_remaining_percent(budget);
  v1::BurnRate* b = s.add_burn_rates();
  b->set_window("1h");
  b->set_rate(14.4);
  s.mutable_method()->set_window("rolling 30d");
  s.mutable_method()->set_time_zone("Europe/Berlin");
  s.mutable_method()->add_exclusions("maintenance: db-upgrade");
  s.mutable_from()->set_seconds(1793491200);  // 2026-11-01T00:00:00Z
  s.mutable_to()->set_seconds(1796083200);    // 2026-12-01T00:00:00Z
  return s;
}

TEST(SloTableTest, WorstBudgetFirstSpentMarkedWithAccounting) {
  v1::SloReply reply;
  *reply.add_slos() = Slo("fine", 80);
  *reply.add_slos() = Slo("spent\x1b[2J", -20);
  const std::string table = FormatSloTable(reply);
  std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 6u) << table;
  EXPECT_TRUE(absl::StartsWith(lines[0], "   NAME")) << table;
  EXPECT_TRUE(absl::StartsWith(
      lines[1], "!  spent\\x1b[2J  service app  99.9%   30d     occurrences  99.950%  -20.0%"))
      << table;
  EXPECT_TRUE(absl::StrContains(lines[1], "-20.0%       1h=14.40")) << table;
  EXPECT_TRUE(absl::StartsWith(lines[2], "   fine")) << table;
  EXPECT_EQ(lines[3], "--");
  EXPECT_EQ(lines[4],
            "spent\\x1b[2J: rolling 30d, 2026-11-01T00:00:00Z to 2026-12-01T00:00:00Z "
            "(Europe/Berlin); occurrences; excluded: maintenance: db-upgrade");
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
  EXPECT_EQ(FormatSloTable(v1::SloReply()), "no SLOs configured\n");
}

}  // namespace
}  // namespace sonde::sondectl
