// The one-file HTML report as a reader sees it: rendered by headless
// Chromium from a file:// URL, the per-day bars of every check x region, the
// incidents and the accounting footer are there, and a hostile check name
// and evidence holding <script> are text: no script element, and the
// script (which would set document.title) did not run. The screenshot is
// saved in build/test-output/report_html_test/.
#include "common/html/report_html.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/chromium.h"

namespace sonde::html {
namespace {

constexpr char kHostile[] = "<script>document.title='pwned'</script>";

TEST(ReportHtmlInChromium, BarsIncidentsFooterAndHostileTextAsText) {
  ReportModel r;
  r.title = "Acme availability, November 2026";
  r.to = absl::FromCivil(absl::CivilDay(2026, 12, 1), absl::UTCTimeZone());
  r.from = r.to - absl::Hours(24 * 30);
  r.generated_at = r.to;
  for (const char* region : {"fra", "ams", "ber"}) {
    ReportRow row;
    row.check = absl::StrCat("shop-web ", kHostile);
    row.service = "shop";
    row.region = region;
    row.probes = 30 * 2880;
    for (int i = 0; i < 30; ++i) {
      DayBar d{absl::CivilDay(2026, 11, 1) + i, true, 100, 2880, 0};
      if (std::string(region) == "ber" && i == 20) {
        d.failures = 120;
        d.availability = 95.8;
        d.incidents = 1;
      }
      row.failures += d.failures;
      row.days.push_back(d);
    }
    row.reachability = 100.0 * (row.probes - row.failures) / row.probes;
    row.availability = row.reachability;
    r.rows.push_back(row);
  }
  r.incidents.push_back(
      {"shop/regional_outage/1795000000",
       "REGIONAL_OUTAGE",
       "shop",
       {"ber"},
       absl::FromCivil(absl::CivilSecond(2026, 11, 21, 10, 0, 0), absl::UTCTimeZone()),
       absl::FromCivil(absl::CivilSecond(2026, 11, 21, 11, 0, 0), absl::UTCTimeZone()),
       absl::StrCat("HTTP_BODY from ber: body does not match /ok/ (first bytes: \"", kHostile,
                    "\")")});
  r.footer = {"Availability: share of time not in an outage incident (UTC days).",
              "Regions counted: fra, ams, ber."};

  const std::string dir = testing::TestOutputDir("report_html_test");
  const std::string file = dir + "/report.html";
  {
    std::ofstream out(file);
    out << RenderReportHtml(r);
  }
  const std::string shot = dir + "/report.png";
  testing::ChromiumPage page = testing::RenderInChromium("file://" + file, shot, dir);
  ASSERT_EQ(page.exit_code, 0) << page.log;
  const std::string& dom = page.dom;
  ASSERT_TRUE(absl::StrContains(dom, "</html>")) << "no DOM dumped:\n" << page.log;
  EXPECT_TRUE(absl::StrContains(dom, "<title>Acme availability, November 2026</title>"))
      << "the title changed: a script ran";
  EXPECT_EQ(testing::CountTags(dom, "script"), 0) << dom;
  EXPECT_TRUE(
      absl::StrContains(dom, "shop-web &lt;script&gt;document.title='pwned'&lt;/script&gt;"))
      << dom;
  EXPECT_TRUE(absl::StrContains(dom, "first bytes: \"&lt;script&gt;")) << dom;
  EXPECT_EQ(testing::CountTags(dom, "rect class=\"b "), 90) << "30 days x 3 regions";
  EXPECT_TRUE(absl::StrContains(dom, "2026-11-21: 95.80 % available (120 of 2880 probes failed)"))
      << dom;
  EXPECT_TRUE(absl::StrContains(dom, "shop/regional_outage/1795000000"));
  EXPECT_TRUE(absl::StrContains(dom, "Regions counted: fra, ams, ber."));
  std::ifstream png(shot, std::ios::binary);
  std::string magic(8, '\0');
  png.read(magic.data(), 8);
  EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n") << "no screenshot at " << shot;
}

}  // namespace
}  // namespace sonde::html
