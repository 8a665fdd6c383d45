// The HTML renderers: states and scope shown, the bars and their legend,
// JSON/Atom/badge well-formed, and outside text (names, evidence, updates,
// report rows) escaped everywhere — no markup from a target or a person
// reaches the document.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/html/report_html.h"
#include "common/html/status_page_html.h"
#include "common/html/status_page_json.h"
#include "common/html/view.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sonde::html {
namespace {

constexpr char kHostile[] = "<script>document.title='pwned'</script>\"&'";

StatusPageModel Model() {
  StatusPageModel m;
  m.title = "Acme status";
  m.generated_at = absl::FromUnixSeconds(1764979200);  // 2025-12-06T00:00:00Z
  m.overall = ServiceState::kPartialOutage;
  ServiceView s;
  s.service = "shop";
  s.name = kHostile;
  s.state = ServiceState::kPartialOutage;
  s.regions = {"ber"};
  s.affected_targets = 80;
  s.recovered_targets = 62;
  const absl::CivilDay today = absl::ToCivilDay(m.generated_at, absl::UTCTimeZone());
  for (int i = 89; i >= 0; --i) {
    DayBar d{today - i};
    d.has_data = i != 50;
    d.probes = 1000;
    d.failures = i == 0 ? 300 : 0;
    d.availability = i == 0 ? 70 : 100;
    s.days.push_back(d);
  }
  s.has_data = true;
  s.availability = 99.67;
  m.groups.push_back({"Shop", {s}});
  IncidentView i;
  i.id = "shop/regional_outage/1764975600";
  i.service = kHostile;
  i.title = absl::StrCat("Partial outage: ", kHostile, " in ber");
  i.kind = "REGIONAL_OUTAGE";
  i.impact = ServiceState::kPartialOutage;
  i.stage = "Identified";
  i.regions = {"ber"};
  i.evidence = absl::StrCat("HTTP_BODY from ber: body does not match /ok/ (first bytes: \"",
                            kHostile, "\")");
  i.opened_at = m.generated_at - absl::Hours(1);
  i.timeline = {{m.generated_at - absl::Minutes(10), "Update", kHostile, true},
                {i.opened_at, "Identified", "Scope: partial outage in ber", false},
                {i.opened_at, "Detected", "Sonde detected failures", false}};
  m.incidents.push_back(i);
  m.maintenance.push_back({"db upgrade",
                           kHostile,
                           {"shop"},
                           m.generated_at + absl::Hours(2),
                           m.generated_at + absl::Hours(3),
                           false});
  return m;
}

TEST(StatusPageHtml, EscapesEveryOutsideTextAndShowsStateScopeBars) {
  const std::string page = RenderStatusPage(Model());
  EXPECT_FALSE(absl::StrContains(page, "<script")) << page;
  EXPECT_TRUE(absl::StrContains(page, "&lt;script&gt;document.title=&#39;pwned&#39;"));
  EXPECT_TRUE(absl::StrContains(page, "data-state=\"partial_outage\""));
  EXPECT_TRUE(absl::StrContains(page, "Partial outage"));
  EXPECT_TRUE(absl::StrContains(page, "<span class=\"regions\">ber</span>"));
  EXPECT_TRUE(absl::StrContains(page, "62 of 80 hosts recovered"));
  EXPECT_TRUE(absl::StrContains(page, "name=\"viewport\""));
  EXPECT_TRUE(absl::StrContains(page, "prefers-color-scheme:dark"));
  EXPECT_TRUE(absl::StrContains(page, "Scheduled maintenance"));
  // 90 focusable bars, each with its number as a tooltip; one no-data day.
  size_t bars = 0;
  for (size_t at = page.find("<rect class=\"b "); at != std::string::npos;
       at = page.find("<rect class=\"b ", at + 1)) {
    ++bars;
  }
  EXPECT_EQ(bars, 90u);
  EXPECT_TRUE(absl::StrContains(page, "<rect class=\"b down\""));
  EXPECT_TRUE(absl::StrContains(page, "70.00 % available (300 of 1000 probes failed)"));
  EXPECT_TRUE(absl::StrContains(page, ": no data</title>"));
  EXPECT_TRUE(absl::StrContains(page, "id=\"legend\""));
  // No external asset and nothing executable.
  EXPECT_FALSE(absl::StrContains(page, "src=")) << "external or inline script/image source";
  EXPECT_FALSE(absl::StrContains(page, "http://"));
  EXPECT_FALSE(absl::StrContains(page, "https://"));
  EXPECT_FALSE(absl::StrContains(page, " on"));  // no event handler attribute
}

TEST(StatusPageHtml, PercentNeverRoundsAFailureUpTo100) {
  EXPECT_EQ(Percent(99.999), "99.99 %");
  EXPECT_EQ(Percent(100), "100 %");
  EXPECT_EQ(Percent(0, false), "no data");
}

TEST(StatusPageJson, ParsesAndCarriesThePageData) {
  const std::string json = StatusJson(Model());
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &doc).ok()) << json;
  EXPECT_EQ(doc.fields().at("version").number_value(), 1);
  EXPECT_EQ(doc.fields().at("state").string_value(), "partial_outage");
  const auto& service = doc.fields()
                            .at("groups")
                            .list_value()
                            .values(0)
                            .struct_value()
                            .fields()
                            .at("services")
                            .list_value()
                            .values(0)
                            .struct_value()
                            .fields();
  EXPECT_EQ(service.at("name").string_value(), kHostile);
  EXPECT_EQ(service.at("days").list_value().values_size(), 90);
  EXPECT_EQ(service.at("recovered_targets").number_value(), 62);
  const auto& incident =
      doc.fields().at("incidents").list_value().values(0).struct_value().fields();
  EXPECT_EQ(incident.at("timeline").list_value().values_size(), 3);
  EXPECT_TRUE(incident.at("timeline")
                  .list_value()
                  .values(0)
                  .struct_value()
                  .fields()
                  .at("human")
                  .bool_value());

  google::protobuf::Struct shields;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ShieldsJson(Model().groups[0].services[0]), &shields)
                  .ok());
  EXPECT_EQ(shields.fields().at("schemaVersion").number_value(), 1);
  EXPECT_EQ(shields.fields().at("message").string_value(), "partial outage");
  EXPECT_EQ(shields.fields().at("label").string_value(), kHostile);
}

TEST(StatusPageFeed, OneEntryPerIncidentAndPerUpdateEscaped) {
  const std::string atom = RenderAtomFeed(Model());
  EXPECT_TRUE(absl::StartsWith(atom, "<?xml"));
  EXPECT_FALSE(absl::StrContains(atom, "<script"));
  size_t entries = 0;
  for (size_t at = atom.find("<entry>"); at != std::string::npos;
       at = atom.find("<entry>", at + 1)) {
    ++entries;
  }
  EXPECT_EQ(entries, 2u);
  EXPECT_TRUE(absl::StrContains(atom, "Update: Partial outage"));
}

TEST(StatusPageBadge, NamesStateAndEscapesTheLabel) {
  const std::string svg = RenderBadgeSvg(Model().groups[0].services[0]);
  EXPECT_TRUE(absl::StartsWith(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_TRUE(absl::StrContains(svg, "partial outage"));
  EXPECT_TRUE(absl::StrContains(svg, StateColor(ServiceState::kPartialOutage)));
  EXPECT_FALSE(absl::StrContains(svg, "<script"));
}

TEST(ReportHtml, OneFileWithBarsIncidentsAndFooterAllEscaped) {
  ReportModel r;
  r.generated_at = absl::FromUnixSeconds(1764979200);
  r.to = r.generated_at;
  r.from = r.to - absl::Hours(24 * 7);
  const absl::CivilDay last = absl::ToCivilDay(r.to, absl::UTCTimeZone());
  for (const char* region : {"fra", "ber"}) {
    ReportRow row;
    row.check = kHostile;
    row.service = "shop";
    row.region = region;
    row.probes = 7000;
    row.failures = 70;
    row.availability = 99;
    row.reachability = 99;
    for (int i = 6; i >= 0; --i) {
      row.days.push_back(DayBar{last - i, true, i == 0 ? 93.0 : 100.0, 1000, i == 0 ? 70 : 0});
    }
    r.rows.push_back(row);
  }
  r.incidents.push_back({"shop/regional_outage/1",
                         "REGIONAL_OUTAGE",
                         "shop",
                         {"ber"},
                         r.to - absl::Hours(2),
                         r.to - absl::Hours(1),
                         kHostile});
  r.footer = {"Availability: share of time not in an outage incident.", kHostile};
  const std::string html = RenderReportHtml(r);
  EXPECT_FALSE(absl::StrContains(html, "<script")) << html;
  EXPECT_FALSE(absl::StrContains(html, "src="));
  EXPECT_FALSE(absl::StrContains(html, "https://"));
  size_t bars = 0;
  for (size_t at = html.find("<rect class=\"b "); at != std::string::npos;
       at = html.find("<rect class=\"b ", at + 1)) {
    ++bars;
  }
  EXPECT_EQ(bars, 14u);  // 7 days x 2 regions
  EXPECT_TRUE(absl::StrContains(html, "id=\"accounting\""));
  EXPECT_TRUE(absl::StrContains(html, "Availability: share of time"));
  EXPECT_TRUE(absl::StrContains(html, "1h"));  // the incident's duration
}

}  // namespace
}  // namespace sonde::html
