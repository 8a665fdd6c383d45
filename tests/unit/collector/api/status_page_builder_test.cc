// BuildStatusPage on hand-made inputs: state per service from its worst open
// incident (regional = partial outage naming the region, global = major),
// "some probes fail" without an incident, maintenance, the config's groups,
// renames and hidden services, the day bars, and the public timeline
// written from detection events plus people's updates.
#include "collector/api/status_page_builder.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/time/time.h"
#include "common/config/config.h"
#include "common/proto_time.h"

namespace sonde::collector {
namespace {

using html::ServiceState;

const absl::Time kNow = absl::FromUnixSeconds(1764979200) + absl::Hours(12);  // 2025-12-06 12:00

v1::Config Config() {
  auto c = common::ParseConfig(R"(
regions: [fra, ams, ber]
checks:
  - {name: shop-web, service: shop, http: {url: "http://shop.example/"}}
  - {name: api-v1, service: api, http: {url: "http://api.example/"}}
  - {name: blog-web, service: blog, http: {url: "http://blog.example/"}}
  - {name: admin-web, service: admin, http: {url: "http://admin.example/"}}
status_page:
  title: Acme
  groups:
    - name: Storefront
      services: [{service: shop, display_name: "Web shop", description: "Buying things"}]
  hidden: [admin]
)",
                               "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

v1::IncidentEvent Event(absl::Time at, const std::string& kind, const std::string& incident_kind,
                        std::vector<std::string> regions, int affected = 0, int recovered = 0,
                        const std::string& detail = "") {
  v1::IncidentEvent e;
  common::SetTimestamp(at, e.mutable_at());
  e.set_kind(kind);
  e.set_incident_kind(incident_kind);
  for (auto& r : regions) {
    e.add_regions(r);
  }
  e.set_affected_targets(affected);
  e.set_recovered_targets(recovered);
  e.set_detail(detail);
  return e;
}

v1::TimelineReply Incident(const std::string& service, const std::string& kind,
                           std::vector<std::string> regions, absl::Time opened, bool open) {
  v1::TimelineReply t;
  v1::Incident* i = t.mutable_incident();
  i->set_id(service + "/" + kind + "/1");
  i->set_service(service);
  i->set_kind(kind);
  for (auto& r : regions) {
    i->add_regions(r);
  }
  common::SetTimestamp(opened, i->mutable_opened_at());
  i->set_status(open ? "open" : "resolved");
  if (!open) {
    common::SetTimestamp(opened + absl::Minutes(30), i->mutable_resolved_at());
  }
  *t.add_events() = Event(opened, "OPENED", kind, regions, 0, 0, "HTTP_TIMEOUT from ber");
  return t;
}

const html::ServiceView* Find(const html::StatusPageModel& m, const std::string& s) {
  return html::FindService(m, s);
}

TEST(StatusPageBuilder, RegionalOutageIsPartialOutageNamingTheRegionWithProgress) {
  v1::Config config = Config();
  StatusPageInputs in;
  in.config = &config;
  in.now = kNow;
  v1::TimelineReply t = Incident("shop", "PROTOCOL_OUTAGE", {"ber"}, kNow - absl::Hours(1), true);
  t.mutable_incident()->set_affected_targets(80);
  t.mutable_incident()->set_recovered_targets(62);
  *t.add_events() = Event(kNow - absl::Minutes(20), "PROGRESS", "PROTOCOL_OUTAGE", {"ber"}, 80, 62);
  *t.add_events() = Event(kNow - absl::Minutes(10), "UPDATE", "PROTOCOL_OUTAGE", {"ber"}, 80, 62,
                          "We moved traffic away from ber.");
  in.incidents.push_back(t);
  const html::StatusPageModel m = BuildStatusPage(in);
  EXPECT_EQ(m.title, "Acme");
  ASSERT_EQ(m.groups.size(), 2u);
  EXPECT_EQ(m.groups[0].name, "Storefront");
  const html::ServiceView* shop = Find(m, "shop");
  ASSERT_NE(shop, nullptr);
  EXPECT_EQ(shop->name, "Web shop");
  EXPECT_EQ(shop->state, ServiceState::kPartialOutage);
  EXPECT_EQ(shop->regions, std::vector<std::string>{"ber"});
  EXPECT_EQ(shop->affected_targets, 80);
  EXPECT_EQ(shop->recovered_targets, 62);
  EXPECT_EQ(shop->target_unit, "hosts");
  EXPECT_EQ(m.overall, ServiceState::kPartialOutage);
  ASSERT_EQ(m.incidents.size(), 1u);
  const html::IncidentView& i = m.incidents[0];
  EXPECT_EQ(i.title, "Partial outage: Web shop in ber");
  EXPECT_EQ(i.stage, "Recovering");  // an update does not move the stage
  ASSERT_EQ(i.timeline.size(), 4u);  // newest first
  EXPECT_EQ(i.timeline[0].stage, "Update");
  EXPECT_TRUE(i.timeline[0].human);
  EXPECT_EQ(i.timeline[1].stage, "Recovering");
  EXPECT_EQ(i.timeline[1].text, "62 of 80 hosts recovered.");
  EXPECT_EQ(i.timeline[2].stage, "Identified");
  EXPECT_NE(i.timeline[2].text.find("in ber"), std::string::npos) << i.timeline[2].text;
  EXPECT_EQ(i.timeline[3].stage, "Detected");
}

TEST(StatusPageBuilder, StagesRunDetectedIdentifiedRecoveringMonitoringResolved) {
  v1::TimelineReply t = Incident("shop", "REGIONAL_OUTAGE", {"ber"}, kNow - absl::Hours(1), false);
  *t.add_events() =
      Event(kNow - absl::Minutes(50), "REGIONS_CHANGED", "REGIONAL_OUTAGE", {"ams", "ber"});
  *t.add_events() = Event(kNow - absl::Minutes(40), "PROGRESS", "REGIONAL_OUTAGE", {"ber"}, 2, 1);
  *t.add_events() = Event(kNow - absl::Minutes(35), "PROGRESS", "REGIONAL_OUTAGE", {"ber"}, 2, 2);
  *t.add_events() = Event(kNow - absl::Minutes(34), "NOTIFIED", "REGIONAL_OUTAGE", {"ber"});
  *t.add_events() = Event(kNow - absl::Minutes(30), "RESOLVED", "REGIONAL_OUTAGE", {}, 2, 2,
                          "resolved after 30m");
  std::vector<std::string> stages;
  for (const html::TimelineLine& l : PublicTimeline(t)) {
    stages.insert(stages.begin(), l.stage);
  }
  EXPECT_EQ(stages, (std::vector<std::string>{"Detected", "Identified", "Identified", "Recovering",
                                              "Monitoring", "Resolved"}));
}

TEST(StatusPageBuilder, GlobalIsMajorSomeProbesFailingIsDegradedHiddenStaysHidden) {
  v1::Config config = Config();
  StatusPageInputs in;
  in.config = &config;
  in.now = kNow;
  in.incidents.push_back(
      Incident("api", "GLOBAL_OUTAGE", {"fra", "ams", "ber"}, kNow - absl::Minutes(5), true));
  in.incidents.push_back(Incident("admin", "GLOBAL_OUTAGE", {"fra"}, kNow, true));
  in.incidents.push_back(Incident("blog", "CERT_EXPIRING", {}, kNow, true));
  in.recent.push_back({"blog", "ams", 30, 2});
  in.recent.push_back({"blog", "fra", 30, 0});
  const html::StatusPageModel m = BuildStatusPage(in);
  EXPECT_EQ(Find(m, "api")->state, ServiceState::kMajorOutage);
  EXPECT_EQ(Find(m, "blog")->state, ServiceState::kDegraded);
  EXPECT_EQ(Find(m, "blog")->regions, std::vector<std::string>{"ams"});
  EXPECT_EQ(Find(m, "admin"), nullptr);
  EXPECT_EQ(m.overall, ServiceState::kMajorOutage);
  ASSERT_EQ(m.incidents.size(), 1u) << "admin is hidden, CERT_EXPIRING is internal";
  EXPECT_EQ(m.incidents[0].title, "Major outage: api");
}

TEST(StatusPageBuilder, MaintenanceNowAndAheadAndDayBars) {
  v1::Config config = Config();
  v1::MaintenanceWindow* now = config.add_maintenance();
  now->set_name("db");
  now->add_services("api");
  common::SetTimestamp(kNow - absl::Hours(1), now->mutable_start());
  common::SetTimestamp(kNow + absl::Hours(1), now->mutable_end());
  v1::MaintenanceWindow* ahead = config.add_maintenance();
  ahead->set_name("network");
  common::SetTimestamp(kNow + absl::Hours(48), ahead->mutable_start());
  common::SetTimestamp(kNow + absl::Hours(49), ahead->mutable_end());
  StatusPageInputs in;
  in.config = &config;
  in.now = kNow;
  const absl::CivilDay today = absl::ToCivilDay(kNow, absl::UTCTimeZone());
  // The engine's numbers: today 864 s of 86,400 down, the oldest day clean.
  in.days.push_back({"shop", today, 1000, 10, 99.0, 86400, 864});
  in.days.push_back({"shop", today - 89, 1000, 0, 100.0, 86400, 0});
  in.days.push_back({"shop", today - 90, 1000, 1000, 0.0, 86400, 86400});  // outside the 90 days
  const html::StatusPageModel m = BuildStatusPage(in);
  EXPECT_EQ(Find(m, "api")->state, ServiceState::kMaintenance);
  EXPECT_TRUE(Find(m, "api")->days.back().maintenance);
  ASSERT_EQ(m.maintenance.size(), 2u);
  EXPECT_TRUE(m.maintenance[0].ongoing);
  EXPECT_EQ(m.maintenance[1].name, "network");
  EXPECT_TRUE(m.maintenance[1].services.empty()) << "a window naming nothing covers all";
  const html::ServiceView* shop = Find(m, "shop");
  ASSERT_EQ(shop->days.size(), 90u);
  EXPECT_EQ(shop->days.front().day, today - 89);
  EXPECT_TRUE(shop->days.front().has_data);
  EXPECT_DOUBLE_EQ(shop->days.back().availability, 99.0);
  EXPECT_FALSE(shop->days[1].has_data);
  EXPECT_DOUBLE_EQ(shop->availability, 99.5) << "down over counted time of the 90 days";
}

TEST(StatusPageConfig, UnknownOrRepeatedServicesAreRefused) {
  auto bad = common::ParseConfig(R"(
checks:
  - {name: a, http: {url: "http://a.example/"}}
status_page:
  groups: [{name: G, services: [{service: nope}, {service: a}]}]
  hidden: [a]
)",
                                 "bad.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no check has service \"nope\""), std::string::npos)
      << bad.status();
  EXPECT_NE(bad.status().message().find("named twice"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace sonde::collector
