// IncidentStore against a real PostgreSQL: the transactional outbox write
// (incident row + timeline + one outbox row per routed notifier and batch),
// maintenance silencing, acknowledgement, reading back, and what a batch
// does when PostgreSQL fails under it. Detector events are built by hand.
#include "collector/incidents/incident_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/cluster/shard_leases.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/store.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "tests/testing/cluster.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/status_matchers.h"

namespace sonde::collector {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

using detect::IncidentEventKind;
using detect::IncidentKind;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using Rows = sonde::testing::Db::Rows;

// 2025-11-21T09:00:00Z, plus microseconds the store must keep.
const absl::Time kT0 = absl::FromUnixSeconds(1763715600) + absl::Microseconds(123456);

detect::Incident MakeIncident(const std::string& id, const std::string& service, IncidentKind kind,
                              std::vector<std::string> regions) {
  detect::Incident i;
  i.id = id;
  i.kind = kind;
  i.severity = detect::Severity::kPage;
  i.service = service;
  i.checks = {service + "-login"};
  i.regions = std::move(regions);
  i.hosts = {"app.example.com"};
  i.protocol = "tcp";
  i.dominant_class = v1::FailureClass::TCP_REFUSED;
  i.failing_share = 1;
  i.affected_targets = 1;
  i.evidence = "connect: connection refused";
  i.opened_at = kT0;
  i.updated_at = kT0;
  return i;
}

detect::IncidentEvent Event(IncidentEventKind kind, const detect::Incident& incident, absl::Time at,
                            IncidentKind previous_kind = IncidentKind::kGlobalOutage) {
  detect::IncidentEvent e;
  e.kind = kind;
  e.incident_id = incident.id;
  e.at = at;
  e.previous_kind = previous_kind;
  e.incident = incident;
  e.incident.updated_at = at;
  return e;
}

v1::Config ConfigFromText(const std::string& text) {
  v1::Config config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

// Two notifiers that take every service.
v1::Config TwoNotifiers() {
  return ConfigFromText(R"pb(
    notifiers {
      name: "oncall"
      webhook { url: "http://127.0.0.1:9/hook" }
    }
    notifiers {
      name: "chat"
      webhook { url: "http://127.0.0.1:9/chat" }
    }
  )pb");
}

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

std::string Str(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "<missing>" : it->second.string_value();
}

std::vector<std::string> StrList(const google::protobuf::Struct& s, const std::string& key) {
  std::vector<std::string> out;
  auto it = s.fields().find(key);
  if (it == s.fields().end()) {
    return out;
  }
  for (const auto& v : it->second.list_value().values()) {
    out.push_back(v.string_value());
  }
  return out;
}

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromTs(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(google::protobuf::util::TimeUtil::TimestampToMicroseconds(t));
}

class IncidentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = sonde::testing::PostgresEnvironment::conninfo();
    ASSERT_FALSE(conninfo_.empty());
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> s, Store::Connect(conninfo_));
    ASSERT_OK(s->Migrate());
    store_ = std::make_unique<IncidentStore>(conninfo_);
    db_ = std::make_unique<sonde::testing::Db>(conninfo_);
  }

  Rows Query(const std::string& sql) {
    absl::StatusOr<Rows> rows = db_->Query(sql);
    EXPECT_OK(rows) << sql;
    return rows.ok() ? *rows : Rows{};
  }
  int64_t Int(const std::string& sql) {
    absl::StatusOr<int64_t> v = db_->Int(sql);
    EXPECT_OK(v) << sql;
    return v.ok() ? *v : -1;
  }
  // Quotes `id` as an SQL string literal (test ids hold no quotes).
  static std::string Q(const std::string& id) { return absl::StrCat("'", id, "'"); }

  // The outbox rows of an incident: notifier -> (event, payload).
  std::map<std::string, std::pair<std::string, std::string>> Outbox(const std::string& id) {
    std::map<std::string, std::pair<std::string, std::string>> out;
    for (const auto& row : Query(absl::StrCat(
             "SELECT notifier, event, payload::text FROM outbox WHERE incident_id = ", Q(id),
             " ORDER BY id"))) {
      EXPECT_EQ(out.count(row[0]), 0u) << "two outbox rows for notifier " << row[0];
      out[row[0]] = {row[1], row[2]};
    }
    return out;
  }
  int64_t OutboxCount(const std::string& id) {
    return Int(absl::StrCat("SELECT count(*) FROM outbox WHERE incident_id = ", Q(id)));
  }
  // Timeline kinds in order.
  std::vector<std::string> TimelineKinds(const std::string& id) {
    std::vector<std::string> out;
    for (const auto& row : Query(absl::StrCat(
             "SELECT kind FROM incident_events WHERE incident_id = ", Q(id), " ORDER BY id"))) {
      out.push_back(row[0]);
    }
    return out;
  }

  std::string conninfo_;
  std::unique_ptr<IncidentStore> store_;
  std::unique_ptr<sonde::testing::Db> db_;
};

TEST_F(IncidentStoreTest, OpenedWritesRowTimelineAndOneOutboxRowPerNotifier) {
  detect::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/1763715600", "app",
                                      IncidentKind::kGlobalOutage, {"ams", "fra"});
  inc.checks = {"app-api", "app-login"};
  inc.failing_share = 0.75;
  inc.latency_phase = detect::LatencyPhase::kConnect;
  inc.latency_p95 = absl::Milliseconds(812.5);
  inc.latency_baseline_p95 = absl::Milliseconds(40);
  inc.affected_targets = 2;
  const absl::Time now = kT0 + absl::Seconds(1);
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, TwoNotifiers(), now));

  Rows r = Query(absl::StrCat(
      "SELECT kind, severity, service, checks, regions, hosts, protocol, failure_class,"
      " failing_share, latency_phase, latency_p95_ms, latency_baseline_p95_ms,"
      " affected_targets, recovered_targets, evidence,"
      " (extract(epoch from opened_at) * 1000000)::bigint,"
      " (extract(epoch from updated_at) * 1000000)::bigint,"
      " resolved_at IS NULL, acknowledged_at IS NULL, acknowledged_by IS NULL, in_maintenance"
      " FROM incidents WHERE id = ",
      Q(inc.id)));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_THAT(
      r[0], ElementsAre("GLOBAL_OUTAGE", "PAGE", "app", "{app-api,app-login}", "{ams,fra}",
                        "{app.example.com}", "tcp", "TCP_REFUSED", "0.75", "connect", "812.5", "40",
                        "2", "0", "connect: connection refused", absl::StrCat(Micros(kT0)),
                        absl::StrCat(Micros(kT0)), "t", "t", "t", "f"));

  Rows ev =
      Query(absl::StrCat("SELECT kind, incident_kind, regions, affected_targets, failing_share,"
                         " (extract(epoch from at) * 1000000)::bigint, detail <> ''"
                         " FROM incident_events WHERE incident_id = ",
                         Q(inc.id)));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_THAT(ev[0], ElementsAre("OPENED", "GLOBAL_OUTAGE", "{ams,fra}", "2", "0.75",
                                 absl::StrCat(Micros(kT0)), "t"));

  // One row per notifier, due now, each addressed to its notifier.
  EXPECT_EQ(
      Int(absl::StrCat("SELECT count(*) FROM outbox WHERE incident_id = ", Q(inc.id),
                       " AND delivered_at IS NULL AND attempts = 0 AND",
                       " (extract(epoch from next_attempt_at) * 1000000)::bigint = ", Micros(now))),
      2);
  auto outbox = Outbox(inc.id);
  ASSERT_EQ(outbox.size(), 2u);
  for (const std::string notifier : {"oncall", "chat"}) {
    SCOPED_TRACE(notifier);
    ASSERT_EQ(outbox.count(notifier), 1u);
    EXPECT_EQ(outbox[notifier].first, "OPENED");
    google::protobuf::Struct payload = ParseJson(outbox[notifier].second);
    EXPECT_EQ(payload.fields().at("version").number_value(), 1);
    EXPECT_EQ(Str(payload, "event"), "OPENED");
    EXPECT_EQ(Str(payload, "notifier"), notifier);
    EXPECT_EQ(Str(payload, "created_at"), "2025-11-21T09:00:01.123456Z");
    EXPECT_NE(Str(payload, "summary").find("GLOBAL_OUTAGE on app"), std::string::npos)
        << Str(payload, "summary");
    ASSERT_EQ(payload.fields().count("incident"), 1u);
    const google::protobuf::Struct& i = payload.fields().at("incident").struct_value();
    EXPECT_EQ(Str(i, "id"), inc.id);
    EXPECT_EQ(Str(i, "kind"), "GLOBAL_OUTAGE");
    EXPECT_EQ(Str(i, "service"), "app");
    EXPECT_EQ(Str(i, "status"), "open");
    EXPECT_EQ(Str(i, "failure_class"), "TCP_REFUSED");
    EXPECT_THAT(StrList(i, "regions"), ElementsAre("ams", "fra"));
    EXPECT_FALSE(i.fields().at("in_maintenance").bool_value());
  }
}

TEST_F(IncidentStoreTest, ChangesWithinOneBatchAreOnePagePerNotifierWithTheNewestSnapshot) {
  detect::Incident inc =
      MakeIncident("app/REGIONAL_OUTAGE/1763715600", "app", IncidentKind::kRegionalOutage, {"ams"});
  std::vector<detect::IncidentEvent> batch;
  batch.push_back(Event(IncidentEventKind::kOpened, inc, kT0));
  inc.kind = IncidentKind::kGlobalOutage;
  inc.regions = {"ams", "fra"};
  batch.push_back(Event(IncidentEventKind::kReclassified, inc, kT0 + absl::Seconds(1),
                        IncidentKind::kRegionalOutage));
  inc.regions = {"ams", "ber", "fra"};
  batch.push_back(Event(IncidentEventKind::kRegionsChanged, inc, kT0 + absl::Seconds(2)));
  ASSERT_OK(store_->Record(batch, TwoNotifiers(), kT0 + absl::Seconds(3)));

  EXPECT_THAT(TimelineKinds(inc.id), ElementsAre("OPENED", "RECLASSIFIED", "REGIONS_CHANGED"));
  EXPECT_THAT(Query(absl::StrCat("SELECT kind, regions FROM incidents WHERE id = ", Q(inc.id))),
              ElementsAre(ElementsAre("GLOBAL_OUTAGE", "{ams,ber,fra}")));
  auto outbox = Outbox(inc.id);
  ASSERT_EQ(outbox.size(), 2u);
  EXPECT_EQ(OutboxCount(inc.id), 2);
  for (const auto& [notifier, row] : outbox) {
    SCOPED_TRACE(notifier);
    EXPECT_EQ(row.first, "OPENED");
    google::protobuf::Struct payload = ParseJson(row.second);
    EXPECT_EQ(Str(payload, "event"), "OPENED");
    const google::protobuf::Struct& i = payload.fields().at("incident").struct_value();
    EXPECT_EQ(Str(i, "id"), inc.id);  // the id keeps the kind it was opened with
    EXPECT_EQ(Str(i, "kind"), "GLOBAL_OUTAGE");
    EXPECT_THAT(StrList(i, "regions"), ElementsAre("ams", "ber", "fra"));
  }
}

TEST_F(IncidentStoreTest, AReclassificationUndoneWithinTheBatchPagesNobody) {
  detect::Incident inc = MakeIncident("app/global_outage/1763715600", "app",
                                      IncidentKind::kGlobalOutage, {"ams", "ber", "fra"});
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, TwoNotifiers(), kT0));
  // After a restart the regions re-confirm one by one: GLOBAL -> REGIONAL
  // [ber] -> GLOBAL [ams,ber] within one tick.
  std::vector<detect::IncidentEvent> batch;
  const absl::Time t = kT0 + absl::Minutes(5);
  inc.kind = IncidentKind::kRegionalOutage;
  inc.regions = {"ber"};
  batch.push_back(Event(IncidentEventKind::kReclassified, inc, t, IncidentKind::kGlobalOutage));
  inc.kind = IncidentKind::kGlobalOutage;
  inc.regions = {"ams", "ber"};
  batch.push_back(Event(IncidentEventKind::kReclassified, inc, t + absl::Milliseconds(60),
                        IncidentKind::kRegionalOutage));
  ASSERT_OK(store_->Record(batch, TwoNotifiers(), t + absl::Seconds(1)));
  EXPECT_THAT(TimelineKinds(inc.id), ElementsAre("OPENED", "RECLASSIFIED", "RECLASSIFIED"));
  EXPECT_EQ(OutboxCount(inc.id), 2) << "only the two OPENED pages";
}

// OPENED > RESOLVED > RECLASSIFIED > REGIONS_CHANGED, for an incident opened
// in an earlier batch.
TEST_F(IncidentStoreTest, TheStrongestEventOfABatchNamesThePage) {
  struct Case {
    std::string name;
    std::vector<IncidentEventKind> kinds;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"regions", {IncidentEventKind::kRegionsChanged}, "REGIONS_CHANGED"},
      {"regions-reclassified",
       {IncidentEventKind::kRegionsChanged, IncidentEventKind::kReclassified},
       "RECLASSIFIED"},
      {"reclassified-regions",
       {IncidentEventKind::kReclassified, IncidentEventKind::kRegionsChanged},
       "RECLASSIFIED"},
      {"reclassified-resolved",
       {IncidentEventKind::kReclassified, IncidentEventKind::kResolved},
       "RESOLVED"},
      {"updated-progress-resolved",
       {IncidentEventKind::kUpdated, IncidentEventKind::kProgress, IncidentEventKind::kResolved},
       "RESOLVED"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    detect::Incident inc = MakeIncident(absl::StrCat("rank-", c.name, "/REGIONAL_OUTAGE/1"), "app",
                                        IncidentKind::kRegionalOutage, {"ams"});
    ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, TwoNotifiers(), kT0));
    std::vector<detect::IncidentEvent> batch;
    absl::Time at = kT0;
    for (IncidentEventKind k : c.kinds) {
      at += absl::Seconds(10);
      if (k == IncidentEventKind::kReclassified) {
        inc.kind = IncidentKind::kGlobalOutage;
      }
      if (k == IncidentEventKind::kRegionsChanged) {
        inc.regions = {"ams", "fra"};
      }
      if (k == IncidentEventKind::kResolved) {
        inc.resolved = true;
        inc.resolved_at = at;
      }
      batch.push_back(Event(k, inc, at, IncidentKind::kRegionalOutage));
    }
    ASSERT_OK(store_->Record(batch, TwoNotifiers(), at));
    Rows rows =
        Query(absl::StrCat("SELECT notifier, event FROM outbox WHERE incident_id = ", Q(inc.id),
                           " AND event <> 'OPENED' ORDER BY notifier"));
    EXPECT_THAT(rows, ElementsAre(ElementsAre("chat", c.want), ElementsAre("oncall", c.want)));
  }
}

TEST_F(IncidentStoreTest, UpdatedAndProgressAreTimelineOnly) {
  detect::Incident inc = MakeIncident("app/PARTIAL_FAILURE/1763715600", "app",
                                      IncidentKind::kPartialFailure, {"ams", "fra"});
  inc.failing_share = 0.25;
  inc.affected_targets = 4;
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, TwoNotifiers(), kT0));
  ASSERT_EQ(OutboxCount(inc.id), 2);

  inc.failing_share = 0.4;
  detect::IncidentEvent updated = Event(IncidentEventKind::kUpdated, inc, kT0 + absl::Seconds(5));
  inc.recovered_targets = 3;
  detect::IncidentEvent progress = Event(IncidentEventKind::kProgress, inc, kT0 + absl::Seconds(6));
  ASSERT_OK(store_->Record({updated, progress}, TwoNotifiers(), kT0 + absl::Seconds(7)));

  EXPECT_EQ(OutboxCount(inc.id), 2) << "UPDATED/PROGRESS must not page";
  EXPECT_THAT(TimelineKinds(inc.id), ElementsAre("OPENED", "UPDATED", "PROGRESS"));
  EXPECT_THAT(Query(absl::StrCat("SELECT detail FROM incident_events WHERE incident_id = ",
                                 Q(inc.id), " AND kind = 'PROGRESS'")),
              ElementsAre(ElementsAre("3 of 4 checks recovered")));
  // The row follows the newest snapshot.
  EXPECT_THAT(Query(absl::StrCat("SELECT failing_share, recovered_targets,"
                                 " (extract(epoch from updated_at) * 1000000)::bigint"
                                 " FROM incidents WHERE id = ",
                                 Q(inc.id))),
              ElementsAre(ElementsAre("0.4", "3", absl::StrCat(Micros(kT0 + absl::Seconds(6))))));
}

TEST_F(IncidentStoreTest, ResolvedSetsResolvedAtStatusAndPages) {
  detect::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/1763715601", "app",
                                      IncidentKind::kGlobalOutage, {"ams", "fra"});
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, TwoNotifiers(), kT0));
  const absl::Time resolved_at = kT0 + absl::Minutes(4) + absl::Seconds(2);
  inc.resolved = true;
  inc.resolved_at = resolved_at;
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kResolved, inc, resolved_at)}, TwoNotifiers(),
                           resolved_at));

  EXPECT_EQ(Int(absl::StrCat("SELECT (extract(epoch from resolved_at) * 1000000)::bigint"
                             " FROM incidents WHERE id = ",
                             Q(inc.id))),
            Micros(resolved_at));
  EXPECT_THAT(Query(absl::StrCat("SELECT detail FROM incident_events WHERE incident_id = ",
                                 Q(inc.id), " AND kind = 'RESOLVED'")),
              ElementsAre(ElementsAre("resolved after 4m2s")));
  EXPECT_THAT(Query(absl::StrCat("SELECT notifier, event FROM outbox WHERE incident_id = ",
                                 Q(inc.id), " ORDER BY id")),
              ElementsAre(ElementsAre("oncall", "OPENED"), ElementsAre("chat", "OPENED"),
                          ElementsAre("oncall", "RESOLVED"), ElementsAre("chat", "RESOLVED")));

  ASSERT_OK_AND_ASSIGN(v1::TimelineReply t, store_->Timeline(inc.id));
  EXPECT_EQ(t.incident().status(), "resolved");
  ASSERT_TRUE(t.incident().has_resolved_at());
  EXPECT_EQ(FromTs(t.incident().resolved_at()), resolved_at);

  ASSERT_OK_AND_ASSIGN(std::vector<v1::Incident> open, store_->List(false, kT0, ""));
  for (const v1::Incident& i : open) {
    EXPECT_NE(i.id(), inc.id);
  }
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Incident> all,
                       store_->List(true, kT0 - absl::Hours(1), "app"));
  bool listed = false;
  for (const v1::Incident& i : all) {
    listed |= i.id() == inc.id;
  }
  EXPECT_TRUE(listed) << "a resolved incident opened within the window is listed with --all";
  // A window that starts after the opening but before the resolution: the
  // incident was open in it, so it is listed (reports list what overlapped).
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Incident> overlapping,
                       store_->List(true, resolved_at - absl::Seconds(1), "app"));
  listed = false;
  for (const v1::Incident& i : overlapping) {
    listed |= i.id() == inc.id;
  }
  EXPECT_TRUE(listed) << "an incident resolved within the window is listed with --all";
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Incident> later,
                       store_->List(true, kT0 + absl::Hours(1), "app"));
  for (const v1::Incident& i : later) {
    EXPECT_NE(i.id(), inc.id);
  }
  ASSERT_OK_AND_ASSIGN(std::vector<detect::Incident> loaded, store_->LoadOpen());
  for (const detect::Incident& i : loaded) {
    EXPECT_NE(i.id, inc.id);
  }
}

void AddWindow(v1::Config* config, const std::string& name, std::vector<std::string> services,
               std::vector<std::string> checks, absl::Time start, absl::Time end) {
  v1::MaintenanceWindow* w = config->add_maintenance();
  w->set_name(name);
  for (std::string& s : services) {
    w->add_services(std::move(s));
  }
  for (std::string& c : checks) {
    w->add_checks(std::move(c));
  }
  using google::protobuf::util::TimeUtil;
  *w->mutable_start() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(start));
  *w->mutable_end() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(end));
}

TEST_F(IncidentStoreTest, MaintenanceWindowSilencesInsteadOfPaging) {
  v1::Config config = TwoNotifiers();
  AddWindow(&config, "db-upgrade", {"app"}, {}, kT0 - absl::Minutes(10), kT0 + absl::Minutes(10));
  config.mutable_maintenance(0)->set_reason("PostgreSQL 16");
  AddWindow(&config, "by-check", {}, {"web-login"}, kT0 - absl::Minutes(10),
            kT0 + absl::Minutes(10));
  AddWindow(&config, "over", {"api"}, {}, kT0 - absl::Minutes(10), kT0);  // end is exclusive
  AddWindow(&config, "later", {"db"}, {}, kT0 + absl::Minutes(1), kT0 + absl::Minutes(10));

  struct Case {
    std::string service;
    bool silenced;
  };
  // app: its service is listed; web: its check (web-login) is; api: the
  // window ended exactly at the event; db: its window has not begun.
  for (const Case& c :
       {Case{"app", true}, Case{"web", true}, Case{"api", false}, Case{"db", false}}) {
    SCOPED_TRACE(c.service);
    detect::Incident inc = MakeIncident(absl::StrCat(c.service, "/GLOBAL_OUTAGE/1763715600"),
                                        c.service, IncidentKind::kGlobalOutage, {"ams", "fra"});
    ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, config, kT0));
    const std::string in_maintenance =
        absl::StrCat("SELECT in_maintenance::int FROM incidents WHERE id = ", Q(inc.id));
    if (c.silenced) {
      EXPECT_THAT(TimelineKinds(inc.id), ElementsAre("OPENED", "SILENCED"));
      EXPECT_EQ(OutboxCount(inc.id), 0);
      EXPECT_EQ(Int(in_maintenance), 1);
    } else {
      EXPECT_THAT(TimelineKinds(inc.id), ElementsAre("OPENED"));
      EXPECT_EQ(OutboxCount(inc.id), 2);
      EXPECT_EQ(Int(in_maintenance), 0);
    }
  }
  EXPECT_THAT(
      Query("SELECT detail FROM incident_events WHERE incident_id ="
            " 'app/GLOBAL_OUTAGE/1763715600' AND kind = 'SILENCED'"),
      ElementsAre(ElementsAre("maintenance \"db-upgrade\": PostgreSQL 16; OPENED not sent")));
  ASSERT_OK_AND_ASSIGN(v1::TimelineReply t, store_->Timeline("app/GLOBAL_OUTAGE/1763715600"));
  EXPECT_TRUE(t.incident().in_maintenance());

  // db's incident opened before its window; a change inside the window is
  // silenced too (timeline only, no page).
  detect::Incident db = MakeIncident("db/GLOBAL_OUTAGE/1763715600", "db",
                                     IncidentKind::kGlobalOutage, {"ams", "ber", "fra"});
  const absl::Time inside = kT0 + absl::Minutes(2);
  ASSERT_OK(
      store_->Record({Event(IncidentEventKind::kRegionsChanged, db, inside)}, config, inside));
  EXPECT_THAT(TimelineKinds(db.id), ElementsAre("OPENED", "REGIONS_CHANGED", "SILENCED"));
  EXPECT_EQ(OutboxCount(db.id), 2) << "only the OPENED pages from before the window";
}

TEST_F(IncidentStoreTest, SilencedStaysSilencedUntilTheDispatcherLiftsIt) {
  v1::Config config = TwoNotifiers();
  AddWindow(&config, "deploy", {"app"}, {}, kT0 - absl::Minutes(1), kT0 + absl::Minutes(1));
  detect::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/1763715700", "app",
                                      IncidentKind::kGlobalOutage, {"ams", "fra"});
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, config, kT0));
  // After the window, but before the Dispatcher paged it: a change is still
  // silent (it was never paged, so a REGIONS_CHANGED or RESOLVED page would
  // be the first anyone hears of it).
  const absl::Time after = kT0 + absl::Minutes(2);
  inc.regions = {"ams", "ber", "fra"};
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kRegionsChanged, inc, after)}, config, after));
  EXPECT_EQ(OutboxCount(inc.id), 0);
  EXPECT_EQ(Int(absl::StrCat("SELECT in_maintenance::int FROM incidents WHERE id = ", Q(inc.id))),
            1);
  EXPECT_THAT(TimelineKinds(inc.id),
              ElementsAre("OPENED", "SILENCED", "REGIONS_CHANGED", "SILENCED"));
}

TEST_F(IncidentStoreTest, TheRowKeepsTheWholeScopeAndTheFailureEvidence) {
  detect::Incident inc = MakeIncident("web/PROTOCOL_OUTAGE/1763715800", "web",
                                      IncidentKind::kProtocolOutage, {"ams", "ber", "fra"});
  inc.checks = {"h1-https", "h2-https"};
  inc.hosts = {"h1.test", "h2.test"};
  inc.evidence = "TLS_HANDSHAKE from ams, ber, fra";
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, TwoNotifiers(), kT0));
  // h1 recovered; h2 is still down, seen from ams only by now.
  inc.checks = {"h2-https"};
  inc.hosts = {"h2.test"};
  inc.regions = {"ams"};
  inc.evidence = "TLS_HANDSHAKE from ams";
  const absl::Time t1 = kT0 + absl::Minutes(1);
  ASSERT_OK(
      store_->Record({Event(IncidentEventKind::kRegionsChanged, inc, t1)}, TwoNotifiers(), t1));
  inc.resolved = true;
  inc.resolved_at = kT0 + absl::Minutes(2);
  inc.evidence = "";
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kResolved, inc, inc.resolved_at)},
                           TwoNotifiers(), inc.resolved_at));

  ASSERT_OK_AND_ASSIGN(v1::TimelineReply t, store_->Timeline(inc.id));
  EXPECT_THAT(t.incident().checks(), ElementsAre("h1-https", "h2-https"));
  EXPECT_THAT(t.incident().hosts(), ElementsAre("h1.test", "h2.test"));
  EXPECT_THAT(t.incident().regions(), ElementsAre("ams", "ber", "fra"));
  EXPECT_EQ(t.incident().evidence(), "TLS_HANDSHAKE from ams");
  // The timeline keeps each moment's regions.
  ASSERT_EQ(t.events_size(), 3);
  EXPECT_THAT(t.events(1).regions(), ElementsAre("ams"));
  // The resolved notice names the whole scope too.
  Rows payload =
      Query(absl::StrCat("SELECT payload::text FROM outbox WHERE incident_id = ", Q(inc.id),
                         " AND event = 'RESOLVED' LIMIT 1"));
  ASSERT_EQ(payload.size(), 1u);
  google::protobuf::Struct resolved = ParseJson(payload[0][0]);
  const auto& i = resolved.fields().at("incident").struct_value();
  EXPECT_THAT(StrList(i, "hosts"), ElementsAre("h1.test", "h2.test"));
  EXPECT_EQ(Str(i, "evidence"), "TLS_HANDSHAKE from ams");
}

TEST_F(IncidentStoreTest, NotifierServicesRouteThePages) {
  v1::Config config = ConfigFromText(R"pb(
    notifiers {
      name: "everyone"
      webhook { url: "http://127.0.0.1:9/a" }
    }
    notifiers {
      name: "app-team"
      webhook { url: "http://127.0.0.1:9/b" }
      services: "app"
      escalate_after { seconds: 900 }
      escalate_to: "manager"
    }
    notifiers {
      name: "db-team"
      webhook { url: "http://127.0.0.1:9/c" }
      services: "db"
    }
    notifiers {
      name: "manager"
      webhook { url: "http://127.0.0.1:9/d" }
    }
  )pb");
  struct Case {
    std::string service;
    std::set<std::string> notifiers;
  };
  // "manager" is named by escalate_to and lists no services: escalations only.
  for (const Case& c : {Case{"app", {"everyone", "app-team"}}, Case{"db", {"everyone", "db-team"}},
                        Case{"web", {"everyone"}}}) {
    SCOPED_TRACE(c.service);
    detect::Incident inc = MakeIncident(absl::StrCat(c.service, "/REGIONAL_OUTAGE/1763715600"),
                                        c.service, IncidentKind::kRegionalOutage, {"ams"});
    ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, config, kT0));
    std::set<std::string> got;
    for (const auto& [notifier, row] : Outbox(inc.id)) {
      got.insert(notifier);
    }
    EXPECT_EQ(got, c.notifiers);
  }
}

TEST_F(IncidentStoreTest, AcknowledgeOnceThenAlreadyAcknowledged) {
  detect::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/1763715602", "app",
                                      IncidentKind::kGlobalOutage, {"ams", "fra"});
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, TwoNotifiers(), kT0));

  const absl::Time ack_at = kT0 + absl::Minutes(2);
  ASSERT_OK_AND_ASSIGN(v1::AcknowledgeReply first,
                       store_->Acknowledge(inc.id, "alice", "LB disk full", ack_at));
  EXPECT_FALSE(first.already_acknowledged());
  EXPECT_EQ(first.incident().id(), inc.id);
  EXPECT_EQ(first.incident().acknowledged_by(), "alice");
  EXPECT_EQ(FromTs(first.incident().acknowledged_at()), ack_at);
  EXPECT_THAT(Query(absl::StrCat("SELECT acknowledged_by,"
                                 " (extract(epoch from acknowledged_at) * 1000000)::bigint"
                                 " FROM incidents WHERE id = ",
                                 Q(inc.id))),
              ElementsAre(ElementsAre("alice", absl::StrCat(Micros(ack_at)))));

  ASSERT_OK_AND_ASSIGN(v1::AcknowledgeReply second,
                       store_->Acknowledge(inc.id, "bob", "", ack_at + absl::Minutes(1)));
  EXPECT_TRUE(second.already_acknowledged());
  EXPECT_EQ(second.incident().acknowledged_by(), "alice") << "the first acknowledgement wins";
  EXPECT_EQ(FromTs(second.incident().acknowledged_at()), ack_at);

  EXPECT_THAT(TimelineKinds(inc.id), ElementsAre("OPENED", "ACKNOWLEDGED"));
  EXPECT_THAT(Query(absl::StrCat("SELECT detail, incident_kind, regions FROM incident_events"
                                 " WHERE incident_id = ",
                                 Q(inc.id), " AND kind = 'ACKNOWLEDGED'")),
              ElementsAre(ElementsAre("acknowledged by alice: LB disk full", "GLOBAL_OUTAGE",
                                      "{ams,fra}")));

  // Later detector writes keep the acknowledgement, and pages carry it.
  inc.resolved = true;
  inc.resolved_at = kT0 + absl::Minutes(5);
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kResolved, inc, inc.resolved_at)},
                           TwoNotifiers(), inc.resolved_at));
  EXPECT_THAT(Query(absl::StrCat("SELECT acknowledged_by FROM incidents WHERE id = ", Q(inc.id))),
              ElementsAre(ElementsAre("alice")));
  Rows resolved =
      Query(absl::StrCat("SELECT payload::text FROM outbox WHERE incident_id = ", Q(inc.id),
                         " AND event = 'RESOLVED'"));
  ASSERT_EQ(resolved.size(), 2u);
  google::protobuf::Struct payload = ParseJson(resolved[0][0]);
  EXPECT_EQ(Str(payload.fields().at("incident").struct_value(), "acknowledged_by"), "alice");
}

TEST_F(IncidentStoreTest, UnknownIncidentIsNotFound) {
  const std::string id = "nope/GLOBAL_OUTAGE/1";
  absl::StatusOr<v1::AcknowledgeReply> ack = store_->Acknowledge(id, "alice", "", kT0);
  EXPECT_EQ(ack.status().code(), absl::StatusCode::kNotFound) << ack.status();
  EXPECT_EQ(store_->Timeline(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE incident_id = ", Q(id))),
            0);
}

TEST_F(IncidentStoreTest, TimelineIsOldestFirstWithTheEventFields) {
  detect::Incident inc =
      MakeIncident("app/REGIONAL_OUTAGE/1763715603", "app", IncidentKind::kRegionalOutage, {"ams"});
  std::vector<detect::IncidentEvent> batch = {Event(IncidentEventKind::kOpened, inc, kT0)};
  inc.kind = IncidentKind::kGlobalOutage;
  inc.regions = {"ams", "fra"};
  batch.push_back(Event(IncidentEventKind::kReclassified, inc, kT0 + absl::Seconds(30),
                        IncidentKind::kRegionalOutage));
  ASSERT_OK(store_->Record(batch, TwoNotifiers(), kT0 + absl::Seconds(30)));
  ASSERT_OK_AND_ASSIGN(v1::TimelineReply t, store_->Timeline(inc.id));
  EXPECT_EQ(t.incident().kind(), "GLOBAL_OUTAGE");
  ASSERT_EQ(t.events_size(), 2);
  EXPECT_EQ(t.events(0).kind(), "OPENED");
  EXPECT_EQ(t.events(0).incident_kind(), "REGIONAL_OUTAGE");
  EXPECT_THAT(t.events(0).regions(), ElementsAre("ams"));
  EXPECT_EQ(FromTs(t.events(0).at()), kT0);
  EXPECT_EQ(t.events(1).kind(), "RECLASSIFIED");
  EXPECT_EQ(t.events(1).incident_kind(), "GLOBAL_OUTAGE");
  EXPECT_THAT(t.events(1).regions(), ElementsAre("ams", "fra"));
  EXPECT_EQ(t.events(1).failing_share(), 1);
  EXPECT_EQ(t.events(1).affected_targets(), 1);
  EXPECT_EQ(t.events(1).detail().rfind("REGIONAL_OUTAGE -> GLOBAL_OUTAGE: ", 0), 0u)
      << t.events(1).detail();
}

void ExpectSameIncident(const detect::Incident& got, const detect::Incident& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.severity, want.severity);
  EXPECT_EQ(got.service, want.service);
  EXPECT_EQ(got.checks, want.checks);
  EXPECT_EQ(got.regions, want.regions);
  EXPECT_EQ(got.hosts, want.hosts);
  EXPECT_EQ(got.protocol, want.protocol);
  EXPECT_EQ(got.dominant_class, want.dominant_class);
  EXPECT_DOUBLE_EQ(got.failing_share, want.failing_share);
  EXPECT_EQ(got.latency_phase, want.latency_phase);
  EXPECT_EQ(got.latency_p95, want.latency_p95);
  EXPECT_EQ(got.latency_baseline_p95, want.latency_baseline_p95);
  EXPECT_EQ(got.affected_targets, want.affected_targets);
  EXPECT_EQ(got.recovered_targets, want.recovered_targets);
  EXPECT_EQ(got.evidence, want.evidence);
  EXPECT_EQ(got.opened_at, want.opened_at);
  EXPECT_EQ(got.updated_at, want.updated_at);
  EXPECT_EQ(got.resolved, want.resolved);
  EXPECT_EQ(got.resolved_at, want.resolved_at);
}

// Every kind, phase and severity survives ToProto -> FromProto.
TEST(IncidentProtoTest, FromProtoInvertsToProto) {
  const IncidentKind kinds[] = {IncidentKind::kGlobalOutage,   IncidentKind::kRegionalOutage,
                                IncidentKind::kPartialFailure, IncidentKind::kDnsFailure,
                                IncidentKind::kProtocolOutage, IncidentKind::kLatencyDegradation,
                                IncidentKind::kFlapping,       IncidentKind::kProberFault};
  const detect::LatencyPhase phases[] = {detect::LatencyPhase::kNone, detect::LatencyPhase::kDns,
                                         detect::LatencyPhase::kConnect, detect::LatencyPhase::kTls,
                                         detect::LatencyPhase::kFirstByte};
  int n = 0;
  for (IncidentKind kind : kinds) {
    for (detect::LatencyPhase phase : phases) {
      detect::Incident d = MakeIncident(absl::StrCat("svc/k/", n), "svc", kind, {"ams", "ber"});
      d.severity = n % 2 == 0 ? detect::Severity::kPage : detect::Severity::kTicket;
      d.latency_phase = phase;
      d.latency_p95 = absl::Milliseconds(300 + n);
      d.latency_baseline_p95 = absl::Microseconds(41500);
      d.failing_share = 0.125;
      d.affected_targets = 80;
      d.recovered_targets = 62;
      d.updated_at = kT0 + absl::Seconds(n);
      if (n % 3 == 0) {
        d.resolved = true;
        d.resolved_at = kT0 + absl::Minutes(n);
      }
      SCOPED_TRACE(
          absl::StrCat(detect::IncidentKindName(kind), " ", detect::LatencyPhaseName(phase)));
      v1::Incident p = ToProto(d);
      EXPECT_EQ(p.status(), d.resolved ? "resolved" : "open");
      EXPECT_EQ(p.has_resolved_at(), d.resolved);
      ExpectSameIncident(FromProto(p), d);
      ++n;
    }
  }
}

TEST_F(IncidentStoreTest, LoadOpenReturnsTheOpenIncidentsAsTheDetectorWroteThem) {
  detect::Incident open = MakeIncident("rt/LATENCY_DEGRADATION/1763715600", "rt",
                                       IncidentKind::kLatencyDegradation, {"ams", "ber", "fra"});
  open.severity = detect::Severity::kTicket;
  open.checks = {"rt-a", "rt-b", "rt-c"};
  open.hosts = {"a.example.com", "b.example.com"};
  open.protocol = "";
  open.dominant_class = v1::FailureClass::OK;
  open.failing_share = 0;
  open.latency_phase = detect::LatencyPhase::kFirstByte;
  open.latency_p95 = absl::Microseconds(812250);
  open.latency_baseline_p95 = absl::Milliseconds(95);
  open.affected_targets = 3;
  open.recovered_targets = 1;
  open.evidence = "p95 812 ms vs \"baseline\" 95 ms, {first_byte}";
  open.opened_at = kT0 - absl::Hours(3);
  detect::IncidentEvent e = Event(IncidentEventKind::kOpened, open, kT0 + absl::Microseconds(7));
  open.updated_at = e.incident.updated_at;

  detect::Incident closed = MakeIncident("rt/GLOBAL_OUTAGE/1763715600", "rt",
                                         IncidentKind::kGlobalOutage, {"ams", "fra"});
  closed.resolved = true;
  closed.resolved_at = kT0;
  ASSERT_OK(
      store_->Record({e, Event(IncidentEventKind::kResolved, closed, kT0)}, TwoNotifiers(), kT0));

  ASSERT_OK_AND_ASSIGN(std::vector<detect::Incident> loaded, store_->LoadOpen());
  const detect::Incident* got = nullptr;
  for (const detect::Incident& i : loaded) {
    EXPECT_NE(i.id, closed.id) << "a resolved incident is not open";
    if (i.id == open.id) {
      got = &i;
    }
  }
  ASSERT_NE(got, nullptr);
  ExpectSameIncident(*got, open);
}

// A batch that fails part-way leaves nothing behind: not the rows of the
// events before the failing one, not their outbox rows.
TEST_F(IncidentStoreTest, AFailedBatchWritesNothing) {
  detect::Incident good = MakeIncident("tx/GLOBAL_OUTAGE/1763715600", "tx",
                                       IncidentKind::kGlobalOutage, {"ams", "fra"});
  detect::Incident bad =
      MakeIncident("tx/REGIONAL_OUTAGE/1763715600", "tx", IncidentKind::kRegionalOutage, {"ams"});
  // Not UTF-8: PostgreSQL refuses the text, after the first event's rows
  // went in.
  bad.evidence = "banner \xff\xfe";
  absl::Status s = store_->Record(
      {Event(IncidentEventKind::kOpened, good, kT0), Event(IncidentEventKind::kOpened, bad, kT0)},
      TwoNotifiers(), kT0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(Int("SELECT count(*) FROM incidents WHERE service = 'tx'"), 0);
  EXPECT_EQ(
      Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE incident_id = ", Q(good.id))),
      0);
  EXPECT_EQ(OutboxCount(good.id), 0);

  // The connection is usable afterwards.
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, good, kT0)}, TwoNotifiers(), kT0));
  EXPECT_EQ(OutboxCount(good.id), 2);
}

// PostgreSQL stopped under an IncidentStore: UNAVAILABLE, nothing written;
// after a restart the same store reconnects and the batch goes in. Uses its
// own cluster (tests/testing/cluster.h) because it stops the server.
TEST(IncidentStoreRestartTest, UnavailableWhilePostgresIsDownThenRecovers) {
  sonde::testing::ScratchDir scratch("incident-store-restart");
  ASSERT_FALSE(scratch.path().empty());
  sonde::testing::Postgres pg(scratch.Path("pg"));
  ASSERT_OK(pg.Start());
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> s, Store::Connect(pg.conninfo()));
    ASSERT_OK(s->Migrate());
  }
  IncidentStore store(pg.conninfo());
  detect::Incident a =
      MakeIncident("a/GLOBAL_OUTAGE/1763715600", "a", IncidentKind::kGlobalOutage, {"ams", "fra"});
  ASSERT_OK(store.Record({Event(IncidentEventKind::kOpened, a, kT0)}, TwoNotifiers(), kT0));

  ASSERT_OK(pg.Stop());
  detect::Incident b =
      MakeIncident("b/GLOBAL_OUTAGE/1763715600", "b", IncidentKind::kGlobalOutage, {"ams", "fra"});
  a.recovered_targets = 1;
  const std::vector<detect::IncidentEvent> batch = {
      Event(IncidentEventKind::kUpdated, a, kT0 + absl::Seconds(1)),
      Event(IncidentEventKind::kOpened, b, kT0 + absl::Seconds(1))};
  absl::Status down = store.Record(batch, TwoNotifiers(), kT0 + absl::Seconds(1));
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  // Still down: the reconnect attempt fails the same way.
  EXPECT_EQ(store.Record(batch, TwoNotifiers(), kT0 + absl::Seconds(1)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store.LoadOpen().status().code(), absl::StatusCode::kUnavailable);

  ASSERT_OK(pg.Start());
  sonde::testing::Db db(pg.conninfo());
  auto count = [&](const std::string& sql) {
    absl::StatusOr<int64_t> v = db.Int(sql);
    EXPECT_OK(v) << sql;
    return v.ok() ? *v : -1;
  };
  EXPECT_EQ(count("SELECT count(*) FROM incidents"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM incident_events"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM outbox"), 2);

  ASSERT_OK(store.Record(batch, TwoNotifiers(), kT0 + absl::Seconds(1)));
  EXPECT_EQ(count("SELECT count(*) FROM incidents"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM incident_events"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM outbox WHERE incident_id = 'b/GLOBAL_OUTAGE/1763715600'"),
            2);
  ASSERT_OK_AND_ASSIGN(std::vector<detect::Incident> open, store.LoadOpen());
  EXPECT_EQ(open.size(), 2u);
}

// Cluster mode (docs/ha.md, "Fencing"): a write under the shard's running
// lease lands with its epoch on every row; after another replica took the
// shard over, a write under the old epoch is refused and lands nothing.
TEST_F(IncidentStoreTest, AFencedWriteAfterATakeoverLandsNothing) {
  ASSERT_OK_AND_ASSIGN(pg::PgConnPtr conn, pg::Connect(conninfo_, "fence-test"));
  ASSERT_OK(pg::Exec(conn.get(), "DELETE FROM shard_leases WHERE shard = 11", "clean").status());
  const cluster::ShardLeases leases(absl::Seconds(1));
  ASSERT_OK_AND_ASSIGN(std::optional<cluster::ShardLease> a, leases.Acquire(conn.get(), 11, "a"));
  ASSERT_TRUE(a.has_value());
  const cluster::LeaseFence fence_a{11, "a", a->epoch};

  detect::Incident inc = MakeIncident("fenced/GLOBAL_OUTAGE/1763715600", "fenced",
                                      IncidentKind::kGlobalOutage, {"fra"});
  ASSERT_OK(
      store_->Record({Event(IncidentEventKind::kOpened, inc, kT0)}, TwoNotifiers(), kT0, &fence_a));
  const std::string epoch = absl::StrCat(a->epoch);
  EXPECT_THAT(Query(absl::StrCat("SELECT lease_epoch FROM incidents WHERE id = ", Q(inc.id))),
              ElementsAre(ElementsAre(epoch)));
  EXPECT_THAT(Query(absl::StrCat("SELECT DISTINCT lease_epoch FROM incident_events"
                                 " WHERE incident_id = ",
                                 Q(inc.id))),
              ElementsAre(ElementsAre(epoch)));
  EXPECT_THAT(Query(absl::StrCat("SELECT DISTINCT lease_epoch FROM outbox WHERE incident_id = ",
                                 Q(inc.id))),
              ElementsAre(ElementsAre(epoch)));
  EXPECT_EQ(OutboxCount(inc.id), 2);

  // a pauses past its lease; b takes the shard over under a new epoch.
  absl::SleepFor(absl::Milliseconds(1300));
  ASSERT_OK_AND_ASSIGN(std::optional<cluster::ShardLease> b, leases.Acquire(conn.get(), 11, "b"));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->epoch, a->epoch + 1);

  // a wakes and writes the resolution it decided: fenced, nothing lands.
  detect::Incident resolved = inc;
  resolved.resolved = true;
  resolved.resolved_at = kT0 + absl::Seconds(30);
  const absl::Status st =
      store_->Record({Event(IncidentEventKind::kResolved, resolved, resolved.resolved_at)},
                     TwoNotifiers(), resolved.resolved_at, &fence_a);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_THAT(TimelineKinds(inc.id), ElementsAre("OPENED"));
  EXPECT_EQ(OutboxCount(inc.id), 2);
  EXPECT_EQ(Int(absl::StrCat("SELECT count(*) FROM incidents WHERE id = ", Q(inc.id),
                             " AND resolved_at IS NULL")),
            1);
  // Without a fence (a collector not in cluster mode) rows carry no epoch.
  detect::Incident plain =
      MakeIncident("plain/GLOBAL_OUTAGE/1763715600", "plain", IncidentKind::kGlobalOutage, {"fra"});
  ASSERT_OK(store_->Record({Event(IncidentEventKind::kOpened, plain, kT0)}, TwoNotifiers(), kT0));
  EXPECT_EQ(Int(absl::StrCat("SELECT count(*) FROM outbox WHERE incident_id = ", Q(plain.id),
                             " AND lease_epoch IS NULL")),
            2);
}

}  // namespace
}  // namespace sonde::collector
