// Dispatcher against a real PostgreSQL (tests/testing/postgres_fixture.h)
// and loopback webhook receivers, on a FakeClock.
#include "collector/notify/dispatcher.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/notify/outbox.h"
#include "collector/notify/routing.h"
#include "collector/notify/senders/notification.h"
#include "collector/notify/senders/sender.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/store.h"
#include "common/config/config.h"
#include "common/proto_time.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/test_receivers.h"

namespace sonde::notify {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

using testing::HttpReceiver;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

std::string SqlTime(absl::Time t) {
  return absl::StrCat("'", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone()), "'");
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') {
      out += '\'';
    }
  }
  return out + "'";
}

class NotifyDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(sonde::testing::PostgresEnvironment::conninfo().empty())
        << "no PostgreSQL (see the environment's failure above)";
    auto store = collector::Store::Connect(conninfo());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->Migrate().ok());
    ASSERT_TRUE(store_->Execute("TRUNCATE outbox, incident_events, incidents").ok());
    ASSERT_TRUE(store_->Execute("DELETE FROM shard_leases WHERE shard = -1").ok());
  }

  static const std::string& conninfo() { return sonde::testing::PostgresEnvironment::conninfo(); }

  std::unique_ptr<Dispatcher> NewDispatcher(const v1::Config& config) {
    auto d = std::make_unique<Dispatcher>(conninfo(), &clock_);
    d->SetConfig(config);
    return d;
  }

  static v1::Notifier* AddWebhook(v1::Config* config, const std::string& name,
                                  const HttpReceiver& receiver) {
    v1::Notifier* n = config->add_notifiers();
    n->set_name(name);
    n->mutable_webhook()->set_url(receiver.url("/" + name));
    return n;
  }

  static v1::Incident MakeIncident(const std::string& id, absl::Time opened) {
    v1::Incident inc;
    inc.set_id(id);
    inc.set_kind("GLOBAL_OUTAGE");
    inc.set_severity("PAGE");
    inc.set_service("app");
    inc.add_checks("app-login");
    inc.add_regions("ams");
    inc.add_regions("fra");
    inc.set_failure_class(v1::FailureClass::HTTP_STATUS);
    inc.set_failing_share(1);
    inc.set_evidence("all probes fail with 503");
    inc.mutable_opened_at()->set_seconds(absl::ToUnixSeconds(opened));
    inc.set_status("open");
    return inc;
  }

  void InsertIncident(const v1::Incident& inc, bool in_maintenance = false) {
    const absl::Time opened = absl::FromUnixSeconds(inc.opened_at().seconds());
    ASSERT_TRUE(
        store_
            ->Execute(absl::StrCat("INSERT INTO incidents (id, kind, severity, service, checks,"
                                   " regions, hosts, protocol, failure_class, failing_share,"
                                   " latency_phase, latency_p95_ms, latency_baseline_p95_ms,"
                                   " affected_targets, recovered_targets, evidence, opened_at,"
                                   " updated_at, in_maintenance) VALUES (",
                                   Quote(inc.id()), ", ", Quote(inc.kind()), ", ",
                                   Quote(inc.severity()), ", ", Quote(inc.service()),
                                   ", '{app-login}', '{ams,fra}', '{}', '', 'HTTP_STATUS', 1, '',"
                                   " 0, 0, 0, 0, ",
                                   Quote(inc.evidence()), ", ", SqlTime(opened), ", ",
                                   SqlTime(opened), ", ", in_maintenance ? "true" : "false", ")"))
            .ok());
  }

  // The OPENED row the incident writer would have committed.
  int64_t InsertOpened(const v1::Incident& inc, const std::string& notifier, absl::Time at) {
    EXPECT_TRUE(
        store_
            ->Execute(absl::StrCat("INSERT INTO outbox (incident_id, notifier, event, payload,"
                                   " created_at, next_attempt_at) VALUES (",
                                   Quote(inc.id()), ", ", Quote(notifier), ", 'OPENED', ",
                                   Quote(NotificationJson(kOpened, notifier, &inc, at)), ", ",
                                   SqlTime(at), ", ", SqlTime(at), ")"))
            .ok());
    return Int(absl::StrCat("SELECT max(id) FROM outbox WHERE notifier = ", Quote(notifier)));
  }

  std::vector<std::string> Column(const std::string& sql) {
    auto r = store_->QueryColumn(sql);
    EXPECT_TRUE(r.ok()) << r.status() << "\n" << sql;
    return r.ok() ? *r : std::vector<std::string>{};
  }
  std::string Value(const std::string& sql) {
    auto c = Column(sql);
    return c.empty() ? "<none>" : c[0];
  }
  int64_t Int(const std::string& sql) {
    int64_t v = -1;
    EXPECT_TRUE(absl::SimpleAtoi(Value(sql), &v)) << sql;
    return v;
  }
  int64_t Rows(const std::string& where) {
    return Int(absl::StrCat("SELECT count(*) FROM outbox WHERE ", where));
  }
  int64_t Events(const std::string& kind) {
    return Int(absl::StrCat("SELECT count(*) FROM incident_events WHERE kind = ", Quote(kind)));
  }

  common::FakeClock clock_{kT0};
  std::unique_ptr<collector::Store> store_;
};

TEST_F(NotifyDispatcherTest, DeliversPendingRowAndRecordsNotified) {
  HttpReceiver receiver;
  v1::Config config;
  AddWebhook(&config, "oncall", receiver)->mutable_webhook()->set_secret("k");
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/1", kT0);
  InsertIncident(inc);
  const int64_t id = InsertOpened(inc, "oncall", kT0);
  auto d = NewDispatcher(config);

  ASSERT_TRUE(d->RunOnce(kT0).ok());

  ASSERT_EQ(receiver.requests().size(), 1u);
  const auto r = receiver.requests()[0];
  EXPECT_EQ(r.path, "/oncall");
  EXPECT_EQ(r.headers.at("x-sonde-event"), "OPENED");
  EXPECT_EQ(r.headers.at("x-sonde-delivery"), absl::StrCat(id));
  int64_t signed_at = 0;
  EXPECT_TRUE(testing::SignatureValid("k", r.headers.at("x-sonde-signature"), r.body, &signed_at));
  EXPECT_EQ(signed_at, absl::ToUnixSeconds(kT0));
  EXPECT_TRUE(absl::StrContains(r.body, "\"app/GLOBAL_OUTAGE/1\"")) << r.body;
  EXPECT_EQ(Value(absl::StrCat("SELECT delivered_at = ", SqlTime(kT0),
                               " AND attempts = 1 FROM outbox WHERE id = ", id)),
            "t");
  EXPECT_EQ(Column("SELECT detail FROM incident_events WHERE kind = 'NOTIFIED'"),
            (std::vector<std::string>{absl::StrCat("webhook \"oncall\": OPENED, delivery ", id)}));
  EXPECT_EQ(Value("SELECT incident_kind || ' ' || array_to_string(regions, ',') FROM "
                  "incident_events WHERE kind = 'NOTIFIED'"),
            "GLOBAL_OUTAGE ams,fra");
  EXPECT_EQ(d->stats().delivered, 1u);
  EXPECT_EQ(d->stats().pending, 0);

  // Delivered rows are not sent again.
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Seconds(1)).ok());
  EXPECT_EQ(receiver.requests().size(), 1u);

  common::MetricsText metrics;
  d->AppendMetrics(&metrics);
  EXPECT_TRUE(absl::StrContains(metrics.text(), "sonde_notify_delivered_total 1"))
      << metrics.text();
}

TEST_F(NotifyDispatcherTest, FailingReceiverIsRetriedWithBackoffThenSucceeds) {
  HttpReceiver receiver;
  receiver.set_status(500);
  v1::Config config;
  AddWebhook(&config, "oncall", receiver);
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/2", kT0);
  InsertIncident(inc);
  const int64_t id = InsertOpened(inc, "oncall", kT0);
  auto d = NewDispatcher(config);
  const std::string row = absl::StrCat(" FROM outbox WHERE id = ", id);
  auto retry_in = [&](absl::Time now) {
    return Int(absl::StrCat("SELECT floor(extract(epoch FROM next_attempt_at - ", SqlTime(now),
                            ") * 1000)::bigint", row));
  };

  ASSERT_TRUE(d->RunOnce(kT0).ok());
  EXPECT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(Int("SELECT attempts" + row), 1);
  EXPECT_EQ(Value("SELECT delivered_at IS NULL" + row), "t");
  EXPECT_TRUE(absl::StrContains(Value("SELECT last_error" + row), "HTTP 500"));
  int64_t ms = retry_in(kT0);
  EXPECT_GE(ms, 800);
  EXPECT_LE(ms, 1200);
  EXPECT_EQ(Events("DELIVERY_FAILED"), 1);

  // Not due yet: no attempt.
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Milliseconds(700)).ok());
  EXPECT_EQ(receiver.requests().size(), 1u);

  const absl::Time t1 = kT0 + absl::Milliseconds(1300);
  ASSERT_TRUE(d->RunOnce(t1).ok());
  EXPECT_EQ(receiver.requests().size(), 2u);
  EXPECT_EQ(Int("SELECT attempts" + row), 2);
  ms = retry_in(t1);
  EXPECT_GE(ms, 1600);
  EXPECT_LE(ms, 2400);
  EXPECT_EQ(Events("DELIVERY_FAILED"), 1);  // first failure only
  EXPECT_EQ(d->stats().failed_attempts, 2u);
  EXPECT_EQ(d->stats().pending, 1);

  receiver.set_status(204);
  ASSERT_TRUE(d->RunOnce(t1 + absl::Seconds(3)).ok());
  EXPECT_EQ(receiver.requests().size(), 3u);
  EXPECT_EQ(Value("SELECT delivered_at IS NOT NULL" + row), "t");
  EXPECT_EQ(Int("SELECT attempts" + row), 3);
  EXPECT_EQ(Events("NOTIFIED"), 1);
  EXPECT_EQ(d->stats().pending, 0);
}

TEST_F(NotifyDispatcherTest, BackoffDoublesUpToTheCap) {
  DispatcherOptions o;
  EXPECT_EQ(Dispatcher::Backoff(1, 0, o), absl::Seconds(1));
  EXPECT_EQ(Dispatcher::Backoff(2, 0, o), absl::Seconds(2));
  EXPECT_EQ(Dispatcher::Backoff(5, 0, o), absl::Seconds(16));
  EXPECT_EQ(Dispatcher::Backoff(9, 0, o), absl::Seconds(256));
  EXPECT_EQ(Dispatcher::Backoff(10, 0, o), absl::Minutes(5));
  EXPECT_EQ(Dispatcher::Backoff(60, 0, o), absl::Minutes(5));
  EXPECT_EQ(Dispatcher::Backoff(1, 1, o), absl::Milliseconds(1200));
  EXPECT_EQ(Dispatcher::Backoff(1, -1, o), absl::Milliseconds(800));
  EXPECT_EQ(Dispatcher::Backoff(60, 1, o), absl::Minutes(6));
}

TEST_F(NotifyDispatcherTest, RepeatsEveryRepeatEveryUntilAcknowledged) {
  HttpReceiver receiver;
  v1::Config config;
  common::FromAbsl(absl::Minutes(5),
                   AddWebhook(&config, "oncall", receiver)->mutable_repeat_every());
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/3", kT0);
  InsertIncident(inc);
  InsertOpened(inc, "oncall", kT0);
  auto d = NewDispatcher(config);

  ASSERT_TRUE(d->RunOnce(kT0).ok());
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(4)).ok());
  EXPECT_EQ(receiver.count("REPEAT"), 0);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(5)).ok());
  EXPECT_EQ(receiver.count("REPEAT"), 1);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(6)).ok());
  EXPECT_EQ(receiver.count("REPEAT"), 1);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(10)).ok());
  EXPECT_EQ(receiver.count("REPEAT"), 2);
  EXPECT_EQ(Rows("event = 'REPEAT' AND delivered_at IS NOT NULL"), 2);
  EXPECT_EQ(Value("SELECT payload->>'event' FROM outbox WHERE event = 'REPEAT' LIMIT 1"), "REPEAT");
  EXPECT_EQ(Value("SELECT payload->'incident'->>'id' FROM outbox WHERE event = 'REPEAT'"
                  " LIMIT 1"),
            inc.id());

  ASSERT_TRUE(store_
                  ->Execute(absl::StrCat(
                      "UPDATE incidents SET acknowledged_at = ", SqlTime(kT0 + absl::Minutes(11)),
                      ", acknowledged_by = 'alice'"))
                  .ok());
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(15)).ok());
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(30)).ok());
  EXPECT_EQ(receiver.count("REPEAT"), 2);
  EXPECT_EQ(Rows("event = 'REPEAT'"), 2);
  EXPECT_EQ(d->stats().scheduled, 2u);
}

TEST_F(NotifyDispatcherTest, PendingReminderForAcknowledgedIncidentIsSkipped) {
  HttpReceiver receiver;
  v1::Config config;
  common::FromAbsl(absl::Minutes(5),
                   AddWebhook(&config, "oncall", receiver)->mutable_repeat_every());
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/4", kT0);
  InsertIncident(inc);
  InsertOpened(inc, "oncall", kT0);
  auto d = NewDispatcher(config);
  ASSERT_TRUE(d->RunOnce(kT0).ok());
  receiver.set_status(503);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(5)).ok());  // REPEAT fails
  EXPECT_EQ(receiver.count("REPEAT"), 1);
  EXPECT_EQ(Rows("event = 'REPEAT' AND delivered_at IS NULL"), 1);

  // Acknowledged meanwhile; a RESOLVED row is still delivered.
  ASSERT_TRUE(store_
                  ->Execute(absl::StrCat("UPDATE incidents SET acknowledged_at = ",
                                         SqlTime(kT0 + absl::Minutes(6))))
                  .ok());
  ASSERT_TRUE(store_
                  ->Execute(absl::StrCat(
                      "INSERT INTO outbox (incident_id, notifier, event, payload,"
                      " created_at, next_attempt_at) VALUES (",
                      Quote(inc.id()), ", 'oncall', 'RESOLVED', ",
                      Quote(NotificationJson(kResolved, "oncall", &inc, kT0)), ", ",
                      SqlTime(kT0 + absl::Minutes(7)), ", ", SqlTime(kT0 + absl::Minutes(7)), ")"))
                  .ok());
  receiver.set_status(200);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(8)).ok());
  EXPECT_EQ(receiver.count("REPEAT"), 1);  // not sent again
  EXPECT_EQ(receiver.count("RESOLVED"), 1);
  EXPECT_EQ(Value("SELECT last_error FROM outbox WHERE event = 'REPEAT'"), "skipped: acknowledged");
  EXPECT_EQ(Rows("delivered_at IS NULL"), 0);
  EXPECT_EQ(d->stats().skipped, 1u);
}

TEST_F(NotifyDispatcherTest, EscalatesAfterEscalateAfterToEscalateToOnly) {
  HttpReceiver oncall_rx, manager_rx;
  v1::Config config;
  v1::Notifier* oncall = AddWebhook(&config, "oncall", oncall_rx);
  common::FromAbsl(absl::Minutes(15), oncall->mutable_escalate_after());
  oncall->set_escalate_to("manager");
  AddWebhook(&config, "manager", manager_rx);
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/5", kT0);
  InsertIncident(inc);
  ASSERT_EQ(Routes(config, inc).size(), 1u);  // the manager gets escalations only
  InsertOpened(inc, "oncall", kT0);
  auto d = NewDispatcher(config);

  ASSERT_TRUE(d->RunOnce(kT0).ok());
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(14)).ok());
  EXPECT_EQ(manager_rx.requests().size(), 0u);
  EXPECT_EQ(Events("ESCALATED"), 0);

  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(15)).ok());
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(20)).ok());
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(60)).ok());
  EXPECT_EQ(manager_rx.count("ESCALATED"), 1);
  EXPECT_EQ(manager_rx.requests().size(), 1u);
  EXPECT_EQ(oncall_rx.count("ESCALATED"), 0);
  EXPECT_EQ(oncall_rx.requests().size(), 1u);  // just the OPENED
  EXPECT_EQ(Rows("event = 'ESCALATED' AND notifier = 'manager'"), 1);
  EXPECT_EQ(Rows("event = 'ESCALATED'"), 1);
  EXPECT_EQ(Events("ESCALATED"), 1);
  EXPECT_TRUE(absl::StrContains(
      Value("SELECT detail FROM incident_events WHERE kind = 'ESCALATED'"), "manager"));
  EXPECT_EQ(Column("SELECT detail FROM incident_events WHERE kind = 'NOTIFIED'"
                   " ORDER BY id")
                .size(),
            2u);
}

TEST_F(NotifyDispatcherTest, NoEscalationOnceAcknowledged) {
  HttpReceiver oncall_rx, manager_rx;
  v1::Config config;
  v1::Notifier* oncall = AddWebhook(&config, "oncall", oncall_rx);
  common::FromAbsl(absl::Minutes(15), oncall->mutable_escalate_after());
  oncall->set_escalate_to("manager");
  AddWebhook(&config, "manager", manager_rx);
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/6", kT0);
  InsertIncident(inc);
  ASSERT_TRUE(store_
                  ->Execute(absl::StrCat("UPDATE incidents SET acknowledged_at = ",
                                         SqlTime(kT0 + absl::Minutes(1))))
                  .ok());
  auto d = NewDispatcher(config);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(30)).ok());
  EXPECT_EQ(manager_rx.requests().size(), 0u);
  EXPECT_EQ(Rows("true"), 0);
}

TEST_F(NotifyDispatcherTest, HeartbeatEveryHeartbeatEvery) {
  HttpReceiver receiver;
  v1::Config config;
  common::FromAbsl(absl::Minutes(1),
                   AddWebhook(&config, "dms", receiver)->mutable_heartbeat_every());
  AddWebhook(&config, "quiet", receiver);
  auto d = NewDispatcher(config);

  ASSERT_TRUE(d->RunOnce(kT0).ok());
  EXPECT_EQ(receiver.count("HEARTBEAT"), 1);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Seconds(30)).ok());
  EXPECT_EQ(receiver.count("HEARTBEAT"), 1);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Seconds(61)).ok());
  EXPECT_EQ(receiver.count("HEARTBEAT"), 2);
  EXPECT_EQ(Rows("event = 'HEARTBEAT' AND incident_id IS NULL AND notifier = 'dms'"
                 " AND delivered_at IS NOT NULL"),
            2);
  EXPECT_EQ(Rows("notifier = 'quiet'"), 0);
  const auto requests = receiver.requests();
  EXPECT_EQ(requests[0].path, "/dms");
  EXPECT_FALSE(absl::StrContains(requests[0].body, "\"incident\"")) << requests[0].body;
  EXPECT_EQ(Int("SELECT count(*) FROM incident_events"), 0);
}

TEST_F(NotifyDispatcherTest, MaintenanceIncidentIsNotRepeated) {
  HttpReceiver receiver;
  v1::Config config;
  common::FromAbsl(absl::Minutes(5),
                   AddWebhook(&config, "oncall", receiver)->mutable_repeat_every());
  // Flagged when opened.
  InsertIncident(MakeIncident("app/GLOBAL_OUTAGE/7", kT0), /*in_maintenance=*/true);
  // Opened before a window that is active now.
  v1::Incident late = MakeIncident("db/GLOBAL_OUTAGE/8", kT0);
  late.set_service("db");
  InsertIncident(late);
  auto* window = config.add_maintenance();
  window->set_name("db-upgrade");
  window->add_services("db");
  window->mutable_start()->set_seconds(absl::ToUnixSeconds(kT0 + absl::Minutes(2)));
  window->mutable_end()->set_seconds(absl::ToUnixSeconds(kT0 + absl::Hours(1)));
  // The control: a plain incident is repeated.
  InsertIncident(MakeIncident("web/GLOBAL_OUTAGE/9", kT0));
  auto d = NewDispatcher(config);

  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(6)).ok());
  EXPECT_EQ(Column("SELECT incident_id FROM outbox WHERE event = 'REPEAT'"),
            (std::vector<std::string>{"web/GLOBAL_OUTAGE/9"}));
  EXPECT_EQ(receiver.count("REPEAT"), 1);
}

TEST_F(NotifyDispatcherTest, IncidentThatOutlivesItsMaintenanceWindowIsPagedOnce) {
  HttpReceiver receiver;
  v1::Config config;
  common::FromAbsl(absl::Minutes(5),
                   AddWebhook(&config, "oncall", receiver)->mutable_repeat_every());
  auto* window = config.add_maintenance();
  window->set_name("deploy");
  window->add_services("app");
  window->mutable_start()->set_seconds(absl::ToUnixSeconds(kT0 - absl::Minutes(1)));
  window->mutable_end()->set_seconds(absl::ToUnixSeconds(kT0 + absl::Minutes(10)));
  InsertIncident(MakeIncident("app/GLOBAL_OUTAGE/12", kT0), /*in_maintenance=*/true);
  auto d = NewDispatcher(config);

  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(9)).ok());  // still inside: quiet
  EXPECT_EQ(receiver.requests().size(), 0u);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(11)).ok());  // over: paged as OPENED
  EXPECT_EQ(receiver.count("OPENED"), 1);
  EXPECT_EQ(Column("SELECT in_maintenance::text FROM incidents"),
            (std::vector<std::string>{"false"}));
  EXPECT_EQ(Column("SELECT kind FROM incident_events WHERE kind = 'MAINTENANCE_ENDED'"),
            (std::vector<std::string>{"MAINTENANCE_ENDED"}));
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Minutes(12)).ok());  // once, not every pass
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(NotifyDispatcherTest, SecondDispatcherDeliversRowsTheFirstLeftPending) {
  HttpReceiver receiver;
  receiver.set_status(502);
  v1::Config config;
  AddWebhook(&config, "oncall", receiver);
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/10", kT0);
  InsertIncident(inc);
  const int64_t id = InsertOpened(inc, "oncall", kT0);
  {
    auto first = NewDispatcher(config);
    ASSERT_TRUE(first->RunOnce(kT0).ok());
    EXPECT_EQ(Rows("delivered_at IS NULL"), 1);
  }  // "restart"
  receiver.set_status(200);
  auto second = NewDispatcher(config);
  ASSERT_TRUE(second->RunOnce(kT0 + absl::Seconds(2)).ok());
  EXPECT_EQ(receiver.requests().size(), 2u);
  EXPECT_EQ(receiver.requests()[1].headers.at("x-sonde-delivery"), absl::StrCat(id));
  EXPECT_EQ(Rows("delivered_at IS NOT NULL AND attempts = 2"), 1);
  EXPECT_EQ(second->stats().delivered, 1u);
}

TEST_F(NotifyDispatcherTest, ReconnectsAfterTheConnectionIsKilled) {
  HttpReceiver receiver;
  v1::Config config;
  AddWebhook(&config, "oncall", receiver);
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/11", kT0);
  InsertIncident(inc);
  auto d = NewDispatcher(config);
  ASSERT_TRUE(d->RunOnce(kT0).ok());  // connects
  ASSERT_TRUE(store_
                  ->Execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE application_name = 'sonde-notify'")
                  .ok());
  InsertOpened(inc, "oncall", kT0);
  // The pass that finds the connection dead may fail; one of the next ones
  // reconnects and delivers.
  (void)d->RunOnce(kT0 + absl::Seconds(1));
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Seconds(2)).ok());
  EXPECT_EQ(receiver.count("OPENED"), 1);
  EXPECT_EQ(Rows("delivered_at IS NOT NULL"), 1);
}

TEST_F(NotifyDispatcherTest, UnreachableDatabaseIsAnErrorNotACrash) {
  Dispatcher d("host=127.0.0.1 port=1 dbname=none user=none connect_timeout=2", &clock_);
  v1::Config config;
  d.SetConfig(config);
  EXPECT_TRUE(absl::IsUnavailable(d.RunOnce(kT0)));
  EXPECT_TRUE(absl::IsUnavailable(d.RunOnce(kT0)));
}

TEST_F(NotifyDispatcherTest, RowForUnconfiguredNotifierFailsPermanently) {
  HttpReceiver receiver;
  v1::Config config;
  AddWebhook(&config, "oncall", receiver);
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/12", kT0);
  InsertIncident(inc);
  InsertOpened(inc, "retired", kT0);
  auto d = NewDispatcher(config);
  ASSERT_TRUE(d->RunOnce(kT0).ok());
  EXPECT_TRUE(absl::StrContains(Value("SELECT last_error FROM outbox WHERE notifier = 'retired'"),
                                "not configured"));
  EXPECT_EQ(Value("SELECT next_attempt_at = 'infinity' FROM outbox"), "t");
  EXPECT_EQ(d->stats().abandoned, 1u);
  EXPECT_EQ(d->stats().pending, 0);
  ASSERT_TRUE(d->RunOnce(kT0 + absl::Hours(1)).ok());
  EXPECT_EQ(d->stats().abandoned, 1u);
  EXPECT_EQ(receiver.requests().size(), 0u);
}

TEST_F(NotifyDispatcherTest, NothingHappensBeforeTheFirstConfig) {
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/13", kT0);
  InsertIncident(inc);
  InsertOpened(inc, "oncall", kT0);
  Dispatcher d(conninfo(), &clock_);
  ASSERT_TRUE(d.RunOnce(kT0).ok());
  EXPECT_EQ(Value("SELECT attempts FROM outbox"), "0");
}

TEST_F(NotifyDispatcherTest, StartedThreadDeliversAndStops) {
  HttpReceiver receiver;
  v1::Config config;
  AddWebhook(&config, "oncall", receiver);
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/14", kT0);
  InsertIncident(inc);
  InsertOpened(inc, "oncall", kT0);
  auto d = NewDispatcher(config);
  d->Start();
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (receiver.requests().empty() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  d->Stop();
  d->Stop();
  EXPECT_EQ(receiver.count("OPENED"), 1);
  EXPECT_EQ(Rows("delivered_at IS NOT NULL"), 1);
}

// The OutboxWriter on its own: who gets a page, and which reminders are
// queued only once.
TEST_F(NotifyDispatcherTest, OutboxWriterRoutesPagesAndQueuesEachReminderOnce) {
  v1::Config config;
  v1::Notifier* oncall = config.add_notifiers();
  oncall->set_name("oncall");
  oncall->set_escalate_to("lead");
  config.add_notifiers()->set_name("lead");  // escalation only
  v1::Notifier* db = config.add_notifiers();
  db->set_name("db");
  db->add_services("db");
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/40", kT0);
  InsertIncident(inc);
  auto conn = collector::pg::Connect(conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  OutboxWriter outbox(conn->get());

  auto paged = outbox.Page(config, inc, kOpened, kT0);
  ASSERT_TRUE(paged.ok()) << paged.status();
  EXPECT_EQ(*paged, 1);
  EXPECT_EQ(Column("SELECT notifier || ' ' || event FROM outbox ORDER BY id"),
            (std::vector<std::string>{"oncall OPENED"}));

  // A repeat is due when the notifier's newest row is older than `every`.
  auto repeat = outbox.Repeat(*oncall, inc, kT0 + absl::Minutes(5), absl::Minutes(5));
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(*repeat);
  repeat = outbox.Repeat(*oncall, inc, kT0 + absl::Minutes(6), absl::Minutes(5));
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_FALSE(*repeat);

  // One escalation per incident and target, with its timeline line.
  for (int i = 0; i < 2; ++i) {
    auto escalated =
        outbox.Escalate("lead", "oncall", inc, kT0 + absl::Minutes(15 + i), absl::Minutes(15));
    ASSERT_TRUE(escalated.ok()) << escalated.status();
    EXPECT_EQ(*escalated, i == 0);
  }
  EXPECT_EQ(Rows("event = 'ESCALATED' AND notifier = 'lead'"), 1);
  EXPECT_EQ(Events("ESCALATED"), 1);

  // Heartbeats: at most one per `every`.
  const absl::Time beats[] = {kT0, kT0 + absl::Seconds(30), kT0 + absl::Seconds(61)};
  const bool queued[] = {true, false, true};
  for (int i = 0; i < 3; ++i) {
    auto beat = outbox.Heartbeat(*oncall, beats[i], absl::Minutes(1));
    ASSERT_TRUE(beat.ok()) << beat.status();
    EXPECT_EQ(*beat, queued[i]) << "heartbeat " << i;
  }
  EXPECT_EQ(Rows("event = 'HEARTBEAT' AND incident_id IS NULL"), 2);
}

TEST_F(NotifyDispatcherTest, OutboxWriterEndsMaintenanceOnlyWhenNoWindowCoversTheIncident) {
  v1::Config config;
  config.add_notifiers()->set_name("oncall");
  v1::MaintenanceWindow* window = config.add_maintenance();
  window->set_name("upgrade");
  window->add_services("app");
  common::SetTimestamp(kT0, window->mutable_start());
  common::SetTimestamp(kT0 + absl::Hours(1), window->mutable_end());
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/41", kT0);
  InsertIncident(inc, /*in_maintenance=*/true);
  auto conn = collector::pg::Connect(conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status();
  OutboxWriter outbox(conn->get());

  auto ended = outbox.EndMaintenance(config, inc, kT0 + absl::Minutes(10));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, -1);
  EXPECT_EQ(Rows("true"), 0);
  EXPECT_EQ(Value("SELECT in_maintenance FROM incidents"), "t");

  ended = outbox.EndMaintenance(config, inc, kT0 + absl::Hours(2));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 1);
  EXPECT_EQ(Rows("event = 'OPENED' AND notifier = 'oncall'"), 1);
  EXPECT_EQ(Value("SELECT in_maintenance FROM incidents"), "f");
  EXPECT_EQ(Events("MAINTENANCE_ENDED"), 1);
}

// Scheduling under the scheduler's lease (shard -1, docs/ha.md): one of two
// replicas schedules; when its lease expired and the other took it over, a
// scheduling pass of the first writes nothing and is counted as fenced.
TEST_F(NotifyDispatcherTest, OneReplicaSchedulesUnderTheLeaseAndALostLeaseWritesNothing) {
  HttpReceiver receiver;
  v1::Config config;
  common::FromAbsl(absl::Minutes(1),
                   AddWebhook(&config, "dms", receiver)->mutable_heartbeat_every());
  auto a = NewDispatcher(config);
  auto b = NewDispatcher(config);
  a->set_lease_owner("a");
  b->set_lease_owner("b");
  ASSERT_TRUE(a->RunOnce(kT0).ok());
  ASSERT_TRUE(b->RunOnce(kT0 + absl::Seconds(61)).ok());
  EXPECT_EQ(a->stats().scheduled, 1u);
  EXPECT_EQ(b->stats().scheduled, 0u) << "b scheduled while a held the lease";
  EXPECT_EQ(Value("SELECT owner || ' ' || epoch FROM shard_leases WHERE shard = -1"), "a 1");
  EXPECT_EQ(Rows("event = 'HEARTBEAT' AND lease_epoch = 1"), 1);

  // a pauses past its lease (its expiry is moved instead of waiting 15 s);
  // b takes it over under epoch 2 at its next look (at most every second).
  ASSERT_TRUE(store_
                  ->Execute("UPDATE shard_leases SET expires_at = clock_timestamp()"
                            " - interval '1 second' WHERE shard = -1")
                  .ok());
  absl::SleepFor(absl::Milliseconds(1100));
  ASSERT_TRUE(b->RunOnce(kT0 + absl::Minutes(2)).ok());
  EXPECT_EQ(b->stats().scheduled, 1u);
  EXPECT_EQ(Value("SELECT owner || ' ' || epoch FROM shard_leases WHERE shard = -1"), "b 2");
  // a wakes, still believing it holds epoch 1: fenced, nothing written.
  ASSERT_TRUE(a->RunOnce(kT0 + absl::Minutes(4)).ok());
  EXPECT_EQ(a->stats().scheduler_fenced, 1u);
  EXPECT_EQ(a->stats().scheduled, 1u);
  EXPECT_EQ(Rows("event = 'HEARTBEAT' AND lease_epoch = 1"), 1);
  EXPECT_EQ(Rows("event = 'HEARTBEAT' AND lease_epoch = 2"), 1);
  EXPECT_EQ(Rows("event = 'HEARTBEAT' AND lease_epoch IS NULL"), 0);

  // b stops (a shutdown releases the lease): a schedules again at once.
  b.reset();
  absl::SleepFor(absl::Milliseconds(1100));
  ASSERT_TRUE(a->RunOnce(kT0 + absl::Minutes(6)).ok());
  EXPECT_EQ(a->stats().scheduled, 2u);
  EXPECT_EQ(Value("SELECT owner || ' ' || epoch FROM shard_leases WHERE shard = -1"), "a 3");
}

// A replica that dies after the receiver took a delivery but before its
// commit: the row is delivered again, under the same X-Sonde-Delivery id
// (the outbox row's id), and recorded once.
TEST_F(NotifyDispatcherTest, ADeliveryInterruptedBeforeItsCommitRepeatsWithTheSameId) {
  HttpReceiver receiver;
  receiver.set_delay(absl::Seconds(1));
  v1::Config config;
  AddWebhook(&config, "oncall", receiver);
  const v1::Incident inc = MakeIncident("app/GLOBAL_OUTAGE/12", kT0);
  InsertIncident(inc);
  const int64_t id = InsertOpened(inc, "oncall", kT0);
  auto first = NewDispatcher(config);
  std::thread pass([&] { (void)first->RunOnce(kT0); });
  for (int i = 0; i < 100 && receiver.requests().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(receiver.requests().size(), 1u);
  // The "crash": the replica's session ends while the receiver answers.
  ASSERT_TRUE(store_
                  ->Execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE application_name = 'sonde-notify'")
                  .ok());
  pass.join();
  EXPECT_EQ(Rows("delivered_at IS NULL"), 1) << "the interrupted delivery was committed";

  receiver.set_delay(absl::ZeroDuration());
  auto second = NewDispatcher(config);
  ASSERT_TRUE(second->RunOnce(kT0 + absl::Seconds(1)).ok());
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].headers.at("x-sonde-delivery"), absl::StrCat(id));
  EXPECT_EQ(requests[1].headers.at("x-sonde-delivery"), absl::StrCat(id));
  EXPECT_EQ(Rows("delivered_at IS NOT NULL AND attempts = 1"), 1);
  EXPECT_EQ(Events("NOTIFIED"), 1);
}

}  // namespace
}  // namespace sonde::notify
