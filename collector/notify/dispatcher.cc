#include "collector/notify/dispatcher.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collector/notify/incident_row.h"
#include "collector/notify/notify.h"
#include "collector/notify/senders.h"
#include "common/config/config.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::notify {
namespace {

// Only one collector replica schedules at a time ("sonde" + a small number;
// store.cc uses ...01 and ...02).
constexpr int64_t kScheduleLockKey = 0x736f6e6465000010;

absl::Time OpenedAt(const v1::Incident& inc) {
  return absl::FromUnixSeconds(inc.opened_at().seconds()) +
         absl::Nanoseconds(inc.opened_at().nanos());
}

const v1::Notifier* FindNotifier(const v1::Config& config, const std::string& name) {
  for (const v1::Notifier& n : config.notifiers()) {
    if (n.name() == name) {
      return &n;
    }
  }
  return nullptr;
}

bool IsReminder(const std::string& event) { return event == kRepeat || event == kEscalated; }

}  // namespace

Dispatcher::Dispatcher(std::string conninfo, common::Clock* clock, DispatcherOptions options)
    : conninfo_(std::move(conninfo)), clock_(clock), options_(options) {}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::SetConfig(const v1::Config& config) {
  auto copy = std::make_shared<const v1::Config>(config);
  absl::MutexLock l(&config_mu_);
  config_ = std::move(copy);
}

void Dispatcher::Start() {
  if (thread_.joinable()) {
    return;
  }
  {
    absl::MutexLock l(&thread_mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void Dispatcher::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  {
    absl::MutexLock l(&thread_mu_);
    stop_ = true;
  }
  thread_.join();
}

void Dispatcher::Loop() {
  while (true) {
    (void)RunOnce(clock_->Now());  // RunOnce logs its own failures
    absl::MutexLock l(&thread_mu_);
    thread_mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval);
    if (stop_) {
      return;
    }
  }
}

DispatcherStats Dispatcher::stats() const {
  DispatcherStats s;
  s.delivered = delivered_.load();
  s.failed_attempts = failed_attempts_.load();
  s.skipped = skipped_.load();
  s.abandoned = abandoned_.load();
  s.scheduled = scheduled_.load();
  s.pending = pending_.load();
  return s;
}

void Dispatcher::AppendMetrics(common::MetricsText* out) const {
  const DispatcherStats s = stats();
  out->Add("sonde_notify_delivered_total", "counter", "Notifications a receiver accepted.",
           static_cast<double>(s.delivered));
  out->Add("sonde_notify_failed_attempts_total", "counter",
           "Delivery attempts that failed and will be retried.",
           static_cast<double>(s.failed_attempts));
  out->Add("sonde_notify_skipped_total", "counter",
           "REPEAT/ESCALATED notifications dropped because the incident was "
           "acknowledged or resolved.",
           static_cast<double>(s.skipped));
  out->Add("sonde_notify_abandoned_total", "counter",
           "Notifications for notifiers no longer configured.", static_cast<double>(s.abandoned));
  out->Add("sonde_notify_scheduled_total", "counter",
           "REPEAT, ESCALATED and HEARTBEAT notifications scheduled.",
           static_cast<double>(s.scheduled));
  out->Add("sonde_notify_pending", "gauge",
           "Outbox rows awaiting delivery (including those waiting for a retry).",
           static_cast<double>(s.pending));
}

absl::Duration Dispatcher::Backoff(int attempts, double unit, const DispatcherOptions& options) {
  absl::Duration d = options.backoff_initial;
  for (int i = 1; i < attempts && d < options.backoff_max; ++i) {
    d *= 2;
  }
  d = std::min(d, options.backoff_max);
  unit = std::clamp(unit, -1.0, 1.0);
  return d * (1.0 + options.jitter * unit);
}

absl::Status Dispatcher::Connect() {
  if (conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK) {
    return absl::OkStatus();
  }
  conn_.reset();
  // connect_timeout first: a value in conninfo (expanded from "dbname") wins.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", "sonde-notify", conninfo_.c_str(), nullptr};
  PgConnPtr conn(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    const std::string error = conn == nullptr ? "out of memory" : PQerrorMessage(conn.get());
    if (!in_outage_) {
      spdlog::warn("notify: PostgreSQL unreachable, notifications wait: {}", error);
      in_outage_ = true;
    }
    return absl::UnavailableError(absl::StrCat("notify: connect: ", error));
  }
  conn_ = std::move(conn);
  PgResultPtr r(PQexec(conn_.get(), "SET TimeZone = 'UTC'"));
  if (in_outage_) {
    spdlog::info("notify: PostgreSQL reachable again");
    in_outage_ = false;
  }
  return absl::OkStatus();
}

// The one place a PGresult becomes a Status.
absl::StatusOr<Dispatcher::PgResultPtr> Dispatcher::Exec(const char* sql, const Params& params) {
  if (conn_ == nullptr) {
    return absl::UnavailableError("notify: not connected");
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) {
    values.push_back(p.has_value() ? p->c_str() : nullptr);
  }
  PgResultPtr r(PQexecParams(conn_.get(), sql, static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0));
  const ExecStatusType st = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    return r;
  }
  const std::string error =
      r != nullptr ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_.get());
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    conn_.reset();
    if (!in_outage_) {
      spdlog::warn("notify: lost the PostgreSQL connection, notifications wait: {}", error);
      in_outage_ = true;
    }
    return absl::UnavailableError(absl::StrCat("notify: ", error));
  }
  return absl::InternalError(absl::StrCat("notify: ", error));
}

void Dispatcher::RollbackQuietly() {
  if (conn_ != nullptr && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
    PgResultPtr r(PQexec(conn_.get(), "ROLLBACK"));
  }
}

absl::Status Dispatcher::RunOnce(absl::Time now) {
  std::shared_ptr<const v1::Config> config;
  {
    absl::MutexLock l(&config_mu_);
    config = config_;
  }
  absl::MutexLock l(&run_mu_);
  if (config == nullptr) {
    return absl::OkStatus();
  }
  absl::Status st = Connect();
  if (st.ok()) {
    st = Schedule(*config, now);
  }
  for (int i = 0; st.ok() && i < options_.batch_size; ++i) {
    bool found = false;
    st = DeliverOne(*config, now, &found);
    if (!found) {
      break;
    }
  }
  if (st.ok()) {
    auto r = Exec(
        "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"
        " AND next_attempt_at <> 'infinity'",
        {});
    if (r.ok()) {
      int64_t n = 0;
      (void)absl::SimpleAtoi(PQgetvalue(r->get(), 0, 0), &n);
      pending_.store(n);
    } else {
      st = r.status();
    }
  }
  if (!st.ok()) {
    RollbackQuietly();
    // Connection trouble is logged once per outage (Connect/Exec); other
    // errors once until they change.
    if (!absl::IsUnavailable(st) && st.ToString() != last_logged_error_) {
      spdlog::error("notify: dispatcher pass failed: {}", st.ToString());
      last_logged_error_ = st.ToString();
    }
  } else {
    last_logged_error_.clear();
  }
  return st;
}

absl::Status Dispatcher::Schedule(const v1::Config& config, absl::Time now) {
  bool wanted = false;
  for (const v1::Notifier& n : config.notifiers()) {
    if (n.has_repeat_every() || n.has_escalate_after() || n.has_heartbeat_every()) {
      wanted = true;
    }
  }
  if (!wanted) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(Exec("BEGIN", {}).status());
  absl::Status st = ScheduleInTransaction(config, now);
  if (st.ok()) {
    st = Exec("COMMIT", {}).status();
  }
  if (!st.ok()) {
    RollbackQuietly();
  }
  return st;
}

absl::Status Dispatcher::ScheduleInTransaction(const v1::Config& config, absl::Time now) {
  ASSIGN_OR_RETURN(PgResultPtr lock, Exec("SELECT pg_try_advisory_xact_lock($1::bigint)",
                                          {absl::StrCat(kScheduleLockKey)}));
  if (PQgetvalue(lock.get(), 0, 0)[0] != 't') {
    return absl::OkStatus();  // another replica is scheduling right now
  }
  const std::string now_sql = collector::pg::Timestamp(now);

  // Incidents that opened inside a maintenance window and outlived it were
  // never paged: page them now (OPENED), as if they had just opened.
  ASSIGN_OR_RETURN(PgResultPtr silenced,
                   Exec(absl::StrCat("SELECT ", kIncidentColumns,
                                     " FROM incidents i WHERE i.resolved_at IS NULL"
                                     " AND i.in_maintenance ORDER BY i.opened_at, i.id")
                            .c_str(),
                        {}));
  for (int row = 0; row < PQntuples(silenced.get()); ++row) {
    v1::Incident inc = IncidentFromRow(silenced.get(), row);
    if (ActiveMaintenance(config, inc, now) != nullptr) {
      continue;
    }
    inc.set_in_maintenance(false);
    RETURN_IF_ERROR(
        Exec("UPDATE incidents SET in_maintenance = false WHERE id = $1", {inc.id()}).status());
    RETURN_IF_ERROR(InsertEvent(inc.id(), now, "MAINTENANCE_ENDED",
                                "no maintenance window covers the incident any more"));
    spdlog::info("notify: incident {} outlived its maintenance window", inc.id());
    if (inc.acknowledged_by().empty()) {
      for (const v1::Notifier* n : Routes(config, inc)) {
        RETURN_IF_ERROR(
            Exec("INSERT INTO outbox (incident_id, notifier, event, payload,"
                 " created_at, next_attempt_at) VALUES ($1, $2, 'OPENED', $3::json,"
                 " $4, $4)",
                 {inc.id(), n->name(), NotificationJson(kOpened, n->name(), &inc, now), now_sql})
                .status());
        scheduled_.fetch_add(1);
      }
    }
  }

  ASSIGN_OR_RETURN(PgResultPtr open,
                   Exec(absl::StrCat("SELECT ", kIncidentColumns,
                                     " FROM incidents i WHERE i.resolved_at IS NULL"
                                     " AND i.acknowledged_at IS NULL AND NOT i.in_maintenance"
                                     " AND i.severity = 'PAGE' ORDER BY i.opened_at, i.id")
                            .c_str(),
                        {}));
  for (int row = 0; row < PQntuples(open.get()); ++row) {
    const v1::Incident inc = IncidentFromRow(open.get(), row);
    if (ActiveMaintenance(config, inc, now) != nullptr) {
      continue;  // a window began after the incident opened: stay quiet
    }
    const absl::Time opened = OpenedAt(inc);
    for (const v1::Notifier* n : Routes(config, inc)) {
      const absl::Duration repeat = common::ToAbsl(n->repeat_every());
      if (repeat > absl::ZeroDuration() && opened <= now - repeat) {
        ASSIGN_OR_RETURN(PgResultPtr r,
                         Exec("INSERT INTO outbox (incident_id, notifier, event, payload,"
                              " created_at, next_attempt_at)"
                              " SELECT $1, $2, 'REPEAT', $3::json, $4, $4 WHERE NOT EXISTS"
                              " (SELECT 1 FROM outbox WHERE incident_id = $1 AND notifier = $2"
                              " AND created_at > $5)",
                              {inc.id(), n->name(), NotificationJson(kRepeat, n->name(), &inc, now),
                               now_sql, collector::pg::Timestamp(now - repeat)}));
        if (std::string(PQcmdTuples(r.get())) == "1") {
          scheduled_.fetch_add(1);
        }
      }
      const absl::Duration escalate = common::ToAbsl(n->escalate_after());
      if (escalate > absl::ZeroDuration() && !n->escalate_to().empty() &&
          opened <= now - escalate) {
        const std::string& to = n->escalate_to();
        ASSIGN_OR_RETURN(
            PgResultPtr r,
            Exec("INSERT INTO outbox (incident_id, notifier, event, payload,"
                 " created_at, next_attempt_at)"
                 " SELECT $1, $2, 'ESCALATED', $3::json, $4, $4 WHERE NOT EXISTS"
                 " (SELECT 1 FROM outbox WHERE incident_id = $1 AND notifier = $2"
                 " AND event = 'ESCALATED')",
                 {inc.id(), to, NotificationJson(kEscalated, to, &inc, now), now_sql}));
        if (std::string(PQcmdTuples(r.get())) == "1") {
          scheduled_.fetch_add(1);
          RETURN_IF_ERROR(InsertEvent(inc.id(), now, kEscalated,
                                      absl::StrCat("escalated to \"", to, "\": not acknowledged ",
                                                   absl::FormatDuration(escalate),
                                                   " after opening (by \"", n->name(), "\")")));
          spdlog::info("notify: incident {} escalated to \"{}\"", inc.id(), to);
        }
      }
    }
  }

  for (const v1::Notifier& n : config.notifiers()) {
    const absl::Duration every = common::ToAbsl(n.heartbeat_every());
    if (every <= absl::ZeroDuration()) {
      continue;
    }
    ASSIGN_OR_RETURN(PgResultPtr r,
                     Exec("INSERT INTO outbox (incident_id, notifier, event, payload,"
                          " created_at, next_attempt_at)"
                          " SELECT NULL, $1, 'HEARTBEAT', $2::json, $3, $3 WHERE NOT EXISTS"
                          " (SELECT 1 FROM outbox WHERE incident_id IS NULL AND notifier = $1"
                          " AND event = 'HEARTBEAT' AND created_at > $4)",
                          {n.name(), NotificationJson(kHeartbeat, n.name(), nullptr, now), now_sql,
                           collector::pg::Timestamp(now - every)}));
    if (std::string(PQcmdTuples(r.get())) == "1") {
      scheduled_.fetch_add(1);
    }
  }
  return absl::OkStatus();
}

absl::Status Dispatcher::InsertEvent(const std::string& incident_id, absl::Time at,
                                     const char* kind, const std::string& detail) {
  return Exec(
             "INSERT INTO incident_events (incident_id, at, kind, incident_kind,"
             " regions, affected_targets, recovered_targets, failing_share, detail)"
             " SELECT id, $2, $3, kind, regions, affected_targets,"
             " recovered_targets, failing_share, $4 FROM incidents WHERE id = $1",
             {incident_id, collector::pg::Timestamp(at), std::string(kind), detail})
      .status();
}

absl::Status Dispatcher::DeliverOne(const v1::Config& config, absl::Time now, bool* found) {
  *found = false;
  RETURN_IF_ERROR(Exec("BEGIN", {}).status());
  auto claimed = Exec(
      "SELECT o.id, o.incident_id, o.notifier, o.event, o.payload::text,"
      " o.attempts, i.acknowledged_at IS NOT NULL, i.resolved_at IS NOT NULL"
      " FROM outbox o LEFT JOIN incidents i ON i.id = o.incident_id"
      " WHERE o.delivered_at IS NULL AND o.next_attempt_at <= $1"
      " ORDER BY o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED",
      {collector::pg::Timestamp(now)});
  if (!claimed.ok() || PQntuples(claimed->get()) == 0) {
    RollbackQuietly();
    return claimed.status();
  }
  *found = true;
  const PGresult* r = claimed->get();
  const std::string id = PQgetvalue(r, 0, 0);
  const bool has_incident = PQgetisnull(r, 0, 1) == 0;
  const std::string incident_id = PQgetvalue(r, 0, 1);
  const std::string notifier_name = PQgetvalue(r, 0, 2);
  const std::string event = PQgetvalue(r, 0, 3);
  const std::string payload = PQgetvalue(r, 0, 4);
  int attempts = 0;
  (void)absl::SimpleAtoi(PQgetvalue(r, 0, 5), &attempts);
  const bool acknowledged = PQgetvalue(r, 0, 6)[0] == 't';
  const bool resolved = PQgetvalue(r, 0, 7)[0] == 't';
  int64_t delivery_id = 0;
  (void)absl::SimpleAtoi(id, &delivery_id);

  absl::Status st;
  const v1::Notifier* notifier = FindNotifier(config, notifier_name);
  if (has_incident && IsReminder(event) && (acknowledged || resolved)) {
    st = Exec("UPDATE outbox SET delivered_at = $2, last_error = $3 WHERE id = $1",
              {id, collector::pg::Timestamp(now),
               std::string(acknowledged ? "skipped: acknowledged" : "skipped: resolved")})
             .status();
    if (st.ok()) {
      skipped_.fetch_add(1);
    }
  } else if (notifier == nullptr) {
    const std::string error =
        absl::StrCat("failed permanently: notifier \"", notifier_name, "\" is not configured");
    spdlog::error("notify: outbox row {} ({}): {}", id, event, error);
    st = Exec(
             "UPDATE outbox SET attempts = attempts + 1, last_error = $2,"
             " next_attempt_at = 'infinity' WHERE id = $1",
             {id, error})
             .status();
    if (st.ok()) {
      abandoned_.fetch_add(1);
    }
  } else {
    const std::string what = absl::StrCat(NotifierKind(*notifier), " \"", notifier_name,
                                          "\": ", event, ", delivery ", id);
    const absl::Status sent =
        Deliver(*notifier, event, payload, delivery_id, now, options_.send_timeout);
    if (sent.ok()) {
      st = Exec(
               "UPDATE outbox SET delivered_at = $2, attempts = attempts + 1"
               " WHERE id = $1",
               {id, collector::pg::Timestamp(now)})
               .status();
      if (st.ok() && has_incident) {
        st = InsertEvent(incident_id, now, "NOTIFIED", what);
      }
      if (st.ok()) {
        delivered_.fetch_add(1);
      }
    } else {
      thread_local absl::BitGen bitgen;
      const absl::Duration delay =
          Backoff(attempts + 1, absl::Uniform(bitgen, -1.0, 1.0), options_);
      spdlog::warn("notify: {} failed (attempt {}), retry in {}: {}", what, attempts + 1,
                   absl::FormatDuration(delay), sent.ToString());
      st = Exec(
               "UPDATE outbox SET attempts = attempts + 1, last_error = $2,"
               " next_attempt_at = $3 WHERE id = $1",
               {id, std::string(sent.message()), collector::pg::Timestamp(now + delay)})
               .status();
      if (st.ok() && has_incident && attempts == 0) {
        st = InsertEvent(incident_id, now, "DELIVERY_FAILED",
                         absl::StrCat(what, ": ", sent.message(), " (retrying)"));
      }
      if (st.ok()) {
        failed_attempts_.fetch_add(1);
      }
    }
  }
  if (st.ok()) {
    st = Exec("COMMIT", {}).status();
  }
  if (!st.ok()) {
    RollbackQuietly();
  }
  return st;
}

}  // namespace sonde::notify
