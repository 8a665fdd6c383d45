// sondectl's incident rendering: `sondectl incidents` (table, JSON) and
// `sondectl incident ID` (timeline). Pure functions over Query replies.
#include "sondectl/incidents.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sonde::sondectl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// 2025-11-21T09:00:00Z
constexpr int64_t kT0 = 1763715600;

v1::Incident GlobalOutage() {
  v1::Incident i;
  i.set_id("app/GLOBAL_OUTAGE/1763715600");
  i.set_kind("GLOBAL_OUTAGE");
  i.set_severity("PAGE");
  i.set_service("app");
  i.add_checks("app-login");
  i.add_regions("ams");
  i.add_regions("fra");
  i.add_hosts("app.example.com");
  i.set_failure_class(v1::FailureClass::TCP_REFUSED);
  i.set_failing_share(1);
  i.set_affected_targets(1);
  i.set_evidence("connect 127.0.0.1:9: connection refused");
  i.mutable_opened_at()->set_seconds(kT0);
  i.mutable_updated_at()->set_seconds(kT0 + 2);
  i.set_status("open");
  i.mutable_acknowledged_at()->set_seconds(kT0 + 180);
  i.set_acknowledged_by("alice");
  return i;
}

v1::Incident ResolvedPartialFailure() {
  v1::Incident i;
  i.set_id("db/PARTIAL_FAILURE/1763715000");
  i.set_kind("PARTIAL_FAILURE");
  i.set_severity("TICKET");
  i.set_service("db");
  i.add_checks("db-a");
  i.add_checks("db-b");
  i.set_failing_share(0.25);
  i.set_affected_targets(8);
  i.set_recovered_targets(6);
  i.mutable_opened_at()->set_seconds(kT0 - 600);
  i.mutable_resolved_at()->set_seconds(kT0 - 60);
  i.set_status("resolved");
  i.set_in_maintenance(true);
  return i;
}

std::vector<std::string> Lines(const std::string& text) { return absl::StrSplit(text, '\n'); }

TEST(IncidentsFormatTest, TableHasAlignedColumnsAndEvidenceBelowItsRow) {
  v1::IncidentsReply reply;
  *reply.add_incidents() = GlobalOutage();
  *reply.add_incidents() = ResolvedPartialFailure();
  const std::string table = FormatIncidentsTable(reply);
  EXPECT_THAT(
      Lines(table),
      ElementsAre(
          "ID                             KIND             SEVERITY  SERVICE  REGIONS  SHARE   "
          "CLASS        OPENED                STATUS                  ACK",
          "app/GLOBAL_OUTAGE/1763715600   GLOBAL_OUTAGE    PAGE      app      ams,fra  100.0%  "
          "TCP_REFUSED  2025-11-21T09:00:00Z  open                    alice",
          "    connect 127.0.0.1:9: connection refused",
          "db/PARTIAL_FAILURE/1763715000  PARTIAL_FAILURE  TICKET    db       -        25.0%   "
          "-            2025-11-21T08:50:00Z  resolved (maintenance)  -",
          ""))
      << table;
}

TEST(IncidentsFormatTest, EmptyTableSaysSo) {
  EXPECT_EQ(FormatIncidentsTable(v1::IncidentsReply()), "no open incidents\n");
  EXPECT_EQ(FormatIncidentsTable(v1::IncidentsReply(), /*all=*/true),
            "no incidents in the window\n");
}

TEST(IncidentsFormatTest, TimelineShowsTheIncidentThenItsEventsOldestFirst) {
  v1::TimelineReply reply;
  *reply.mutable_incident() = GlobalOutage();
  auto add = [&](int64_t at, const std::string& kind, const std::string& incident_kind,
                 std::vector<std::string> regions, const std::string& detail) {
    v1::IncidentEvent* e = reply.add_events();
    e->mutable_at()->set_seconds(at);
    e->set_kind(kind);
    e->set_incident_kind(incident_kind);
    for (const std::string& r : regions) {
      e->add_regions(r);
    }
    e->set_detail(detail);
  };
  add(kT0, "OPENED", "REGIONAL_OUTAGE", {"ams"}, "REGIONAL_OUTAGE on app (app-login) in ams");
  add(kT0 + 2, "RECLASSIFIED", "GLOBAL_OUTAGE", {"ams", "fra"}, "REGIONAL_OUTAGE -> GLOBAL_OUTAGE");
  add(kT0 + 180, "ACKNOWLEDGED", "GLOBAL_OUTAGE", {"ams", "fra"}, "acknowledged by alice");
  const std::string text = FormatTimeline(reply);
  EXPECT_THAT(
      Lines(text),
      ElementsAre("app/GLOBAL_OUTAGE/1763715600", "  kind       GLOBAL_OUTAGE (PAGE)",
                  "  service    app  checks app-login", "  regions    ams,fra",
                  "  hosts      app.example.com", "  class      TCP_REFUSED  share 100.0%",
                  "  evidence   connect 127.0.0.1:9: connection refused",
                  "  opened     2025-11-21T09:00:00Z  resolved -",
                  "  ack        alice at 2025-11-21T09:03:00Z", "timeline",
                  "  2025-11-21T09:00:00Z  OPENED          REGIONAL_OUTAGE     ams          "
                  "REGIONAL_OUTAGE on app (app-login) in ams",
                  "  2025-11-21T09:00:02Z  RECLASSIFIED    GLOBAL_OUTAGE       ams,fra      "
                  "REGIONAL_OUTAGE -> GLOBAL_OUTAGE",
                  "  2025-11-21T09:03:00Z  ACKNOWLEDGED    GLOBAL_OUTAGE       ams,fra      "
                  "acknowledged by alice",
                  ""))
      << text;
}

TEST(IncidentsFormatTest, TimelineOptionalLines) {
  v1::TimelineReply reply;
  *reply.mutable_incident() = ResolvedPartialFailure();
  std::string text = FormatTimeline(reply);
  EXPECT_THAT(text, HasSubstr("  recovered  6 of 8\n"));
  EXPECT_THAT(text,
              HasSubstr("  opened     2025-11-21T08:50:00Z  resolved 2025-11-21T08:59:00Z\n"));
  EXPECT_THAT(text, HasSubstr("  ack        -  (in maintenance: not paged)\n"));
  EXPECT_THAT(text, HasSubstr("  class      -  share 25.0%\n"));
  EXPECT_THAT(text, Not(HasSubstr("hosts")));
  EXPECT_THAT(text, Not(HasSubstr("latency")));
  EXPECT_THAT(text, HasSubstr("timeline\n"));

  reply.mutable_incident()->set_kind("LATENCY_DEGRADATION");
  reply.mutable_incident()->set_latency_phase("first_byte");
  reply.mutable_incident()->set_latency_p95_ms(812.4);
  reply.mutable_incident()->set_latency_baseline_p95_ms(95);
  text = FormatTimeline(reply);
  EXPECT_THAT(text, HasSubstr("  latency    first_byte p95 812 ms (baseline 95 ms)\n"));
}

// One line of JSON, proto field names, every field printed (also empty and
// zero ones), enums by name, timestamps in RFC 3339.
TEST(IncidentsFormatTest, OutsideTextIsEscapedForTheTerminal) {
  v1::Incident i = GlobalOutage();
  i.set_evidence("refused\x1b[2J\nFAKE LINE");
  i.set_regions(0, "ams\x1b]0;pwned\x07");
  i.set_acknowledged_by("eve\r\nok");
  v1::IncidentsReply list;
  *list.add_incidents() = i;
  v1::TimelineReply timeline;
  *timeline.mutable_incident() = i;
  v1::IncidentEvent* e = timeline.add_events();
  e->set_kind("ACKNOWLEDGED");
  e->set_detail("acknowledged by eve\nOPENED forged");
  for (const std::string& out : {FormatIncidentsTable(list), FormatTimeline(timeline)}) {
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
    EXPECT_EQ(out.find('\x07'), std::string::npos) << out;
    EXPECT_EQ(out.find('\r'), std::string::npos) << out;
    EXPECT_THAT(out, HasSubstr("refused\\x1b[2J\\nFAKE LINE")) << out;
    for (const std::string& line : Lines(out)) {
      EXPECT_THAT(line, Not(::testing::StartsWith("FAKE"))) << out;
      EXPECT_THAT(line, Not(::testing::StartsWith("OPENED"))) << out;
    }
  }
  EXPECT_THAT(FormatTimeline(timeline), HasSubstr("acknowledged by eve\\nOPENED forged"));
}

TEST(IncidentsFormatTest, JsonIsOneLineWithEveryField) {
  v1::IncidentsReply reply;
  *reply.add_incidents() = GlobalOutage();
  *reply.add_incidents() = ResolvedPartialFailure();
  const std::string json = ToJson(reply);
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(json.back(), '\n');
  EXPECT_EQ(json.find('\n'), json.size() - 1) << "one line";

  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &doc).ok()) << json;
  const auto& list = doc.fields().at("incidents").list_value().values();
  ASSERT_EQ(list.size(), 2);
  const auto& a = list[0].struct_value().fields();
  EXPECT_EQ(a.at("id").string_value(), "app/GLOBAL_OUTAGE/1763715600");
  EXPECT_EQ(a.at("failure_class").string_value(), "TCP_REFUSED");
  EXPECT_EQ(a.at("opened_at").string_value(), "2025-11-21T09:00:00Z");
  EXPECT_EQ(a.at("acknowledged_by").string_value(), "alice");
  EXPECT_EQ(a.at("acknowledged_at").string_value(), "2025-11-21T09:03:00Z");
  EXPECT_EQ(a.at("regions").list_value().values_size(), 2);
  EXPECT_EQ(a.at("failing_share").number_value(), 1);
  const auto& b = list[1].struct_value().fields();
  // Zero and empty values are printed, not left out.
  EXPECT_EQ(b.at("acknowledged_by").string_value(), "");
  EXPECT_EQ(b.at("protocol").string_value(), "");
  EXPECT_EQ(b.at("latency_p95_ms").number_value(), 0);
  EXPECT_EQ(b.at("failure_class").string_value(), "UNSPECIFIED");
  EXPECT_TRUE(b.at("in_maintenance").bool_value());
  EXPECT_EQ(b.at("status").string_value(), "resolved");
  EXPECT_EQ(b.at("regions").list_value().values_size(), 0);

  EXPECT_EQ(ToJson(v1::IncidentsReply()), "{\"incidents\":[]}\n");
}

}  // namespace
}  // namespace sonde::sondectl
