// Payload rendering, summary, routing and maintenance matching.
#include <gtest/gtest.h>

#include "collector/notify/routing.h"
#include "collector/notify/senders/notification.h"
#include "collector/notify/senders/sender.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace sonde::notify {
namespace {

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
  out->set_nanos(0);
}

v1::Incident PartialFailure() {
  v1::Incident inc;
  inc.set_id("app/PARTIAL_FAILURE/1700000000");
  inc.set_kind("PARTIAL_FAILURE");
  inc.set_severity("PAGE");
  inc.set_service("app");
  inc.add_checks("app-login");
  inc.add_regions("fra");
  inc.add_regions("ams");
  inc.add_regions("ber");
  inc.set_failure_class(v1::FailureClass::HTTP_STATUS);
  inc.set_failing_share(0.25);
  inc.set_evidence("25 of 100 probes failed with 503");
  SetTime(absl::FromUnixSeconds(1700000000), inc.mutable_opened_at());
  SetTime(absl::FromUnixSeconds(1700000060), inc.mutable_updated_at());
  inc.set_status("open");
  return inc;
}

google::protobuf::Struct Parse(const std::string& json) {
  google::protobuf::Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(json, &s);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << json;
  return s;
}

TEST(NotifyJsonTest, VersionOneDocumentWithIncident) {
  const v1::Incident inc = PartialFailure();
  const std::string json =
      NotificationJson(kOpened, "oncall", &inc, absl::FromUnixSeconds(1700000005));
  EXPECT_EQ(json.rfind("{\"version\":1,\"event\":\"OPENED\",\"notifier\":\"oncall\","
                       "\"created_at\":\"2023-11-14T22:13:25Z\",\"summary\":",
                       0),
            0u)
      << json;
  const auto doc = Parse(json);
  EXPECT_EQ(doc.fields().at("version").number_value(), 1);
  EXPECT_EQ(doc.fields().at("summary").string_value(), Summary(inc));
  const auto& incident = doc.fields().at("incident").struct_value().fields();
  EXPECT_EQ(incident.at("id").string_value(), inc.id());
  EXPECT_EQ(incident.at("failure_class").string_value(), "HTTP_STATUS");
  EXPECT_EQ(incident.at("opened_at").string_value(), "2023-11-14T22:13:20Z");
  // Proto field names, defaults printed.
  EXPECT_EQ(incident.at("latency_p95_ms").number_value(), 0);
  EXPECT_EQ(incident.at("in_maintenance").bool_value(), false);
  EXPECT_EQ(incident.at("acknowledged_by").string_value(), "");
  EXPECT_EQ(incident.count("resolved_at"), 0u);
}

TEST(NotifyJsonTest, HeartbeatHasNoIncident) {
  const std::string json =
      NotificationJson(kHeartbeat, "dms", nullptr, absl::FromUnixSeconds(1700000000));
  const auto doc = Parse(json);
  EXPECT_EQ(doc.fields().at("event").string_value(), "HEARTBEAT");
  EXPECT_EQ(doc.fields().at("notifier").string_value(), "dms");
  EXPECT_EQ(doc.fields().count("incident"), 0u);
}

TEST(NotifyJsonTest, EscapesStringsAndRoundTrips) {
  v1::Incident inc = PartialFailure();
  inc.set_evidence("quote \" backslash \\ newline \n tab \t bell \x07 ünïcode");
  const std::string json =
      NotificationJson(kResolved, "a\"b", &inc, absl::FromUnixSeconds(1700000000));
  auto parsed = ParseNotification(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->notifier, "a\"b");
  EXPECT_EQ(parsed->event, "RESOLVED");
  EXPECT_TRUE(parsed->has_incident);
  EXPECT_EQ(parsed->incident.evidence(), inc.evidence());
  EXPECT_EQ(parsed->created_at, absl::FromUnixSeconds(1700000000));
}

TEST(NotifyJsonTest, FractionalCreatedAt) {
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(1700000000250)), "2023-11-14T22:13:20.25Z");
}

TEST(NotifySummaryTest, PartialFailureLine) {
  EXPECT_EQ(Summary(PartialFailure()),
            "PARTIAL_FAILURE on app (app-login) in ams, ber, fra: 25% of probes "
            "fail, mostly HTTP_STATUS");
}

TEST(NotifySummaryTest, LatencyAndTargets) {
  v1::Incident inc;
  inc.set_kind("LATENCY_DEGRADATION");
  inc.set_service("api");
  inc.add_regions("fra");
  inc.set_latency_p95_ms(812);
  inc.set_latency_baseline_p95_ms(120);
  inc.set_latency_phase("tls");
  EXPECT_EQ(Summary(inc),
            "LATENCY_DEGRADATION on api in fra: p95 812 ms vs baseline 120 ms, "
            "mostly tls");
  v1::Incident proto;
  proto.set_kind("PROTOCOL_OUTAGE");
  proto.set_service("web");
  proto.set_failing_share(0.004);
  proto.set_affected_targets(4);
  proto.set_recovered_targets(1);
  EXPECT_EQ(Summary(proto), "PROTOCOL_OUTAGE on web: 0.4% of probes fail; 1 of 4 hosts recovered");
}

v1::Config RoutingConfig() {
  v1::Config c;
  auto* oncall = c.add_notifiers();
  oncall->set_name("oncall");
  oncall->set_escalate_to("manager");
  auto* manager = c.add_notifiers();
  manager->set_name("manager");
  auto* db = c.add_notifiers();
  db->set_name("db-team");
  db->add_services("db");
  auto* lead = c.add_notifiers();  // escalation target that also lists services
  lead->set_name("lead");
  lead->add_services("app");
  c.mutable_notifiers(2)->set_escalate_to("lead");
  return c;
}

std::vector<std::string> Names(const std::vector<const v1::Notifier*>& routes) {
  std::vector<std::string> names;
  for (const auto* n : routes) {
    names.push_back(n->name());
  }
  return names;
}

TEST(NotifyRoutesTest, ServicesAndEscalationTargets) {
  const v1::Config config = RoutingConfig();
  v1::Incident app;
  app.set_service("app");
  EXPECT_EQ(Names(Routes(config, app)), (std::vector<std::string>{"oncall", "lead"}));
  v1::Incident db;
  db.set_service("db");
  EXPECT_EQ(Names(Routes(config, db)), (std::vector<std::string>{"oncall", "db-team"}));
  v1::Incident other;
  other.set_service("other");
  EXPECT_EQ(Names(Routes(config, other)), (std::vector<std::string>{"oncall"}));
}

TEST(NotifyMaintenanceTest, MatchesServiceCheckOrAll) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  v1::Config config;
  auto* by_check = config.add_maintenance();
  by_check->set_name("by-check");
  by_check->add_checks("app-login");
  SetTime(t0, by_check->mutable_start());
  SetTime(t0 + absl::Hours(1), by_check->mutable_end());
  auto* by_service = config.add_maintenance();
  by_service->set_name("by-service");
  by_service->add_services("db");
  SetTime(t0 + absl::Hours(2), by_service->mutable_start());
  SetTime(t0 + absl::Hours(3), by_service->mutable_end());

  const v1::Incident app = PartialFailure();
  ASSERT_NE(ActiveMaintenance(config, app, t0), nullptr);
  EXPECT_EQ(ActiveMaintenance(config, app, t0)->name(), "by-check");
  EXPECT_EQ(ActiveMaintenance(config, app, t0 - absl::Seconds(1)), nullptr);
  EXPECT_EQ(ActiveMaintenance(config, app, t0 + absl::Hours(1)), nullptr);  // end exclusive
  EXPECT_EQ(ActiveMaintenance(config, app, t0 + absl::Minutes(150)), nullptr);

  v1::Incident db;
  db.set_service("db");
  db.add_checks("db-tcp");
  EXPECT_EQ(ActiveMaintenance(config, db, t0), nullptr);
  ASSERT_NE(ActiveMaintenance(config, db, t0 + absl::Minutes(150)), nullptr);
  EXPECT_EQ(ActiveMaintenance(config, db, t0 + absl::Minutes(150))->name(), "by-service");

  auto* all = config.add_maintenance();
  all->set_name("everything");
  SetTime(t0 + absl::Hours(5), all->mutable_start());
  SetTime(t0 + absl::Hours(6), all->mutable_end());
  ASSERT_NE(ActiveMaintenance(config, db, t0 + absl::Minutes(330)), nullptr);
  EXPECT_EQ(ActiveMaintenance(config, db, t0 + absl::Minutes(330))->name(), "everything");
}

}  // namespace
}  // namespace sonde::notify
