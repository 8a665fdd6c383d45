#include "collector/notify/dispatcher.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "collector/notify/incident_row.h"
#include "collector/notify/outbox.h"
#include "collector/notify/routing.h"
#include "collector/notify/senders/notification.h"
#include "collector/notify/senders/sender.h"
#include "common/config/config.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::notify {
namespace {

// The default owner of the scheduler's lease: unique per Dispatcher.
std::string DefaultLeaseOwner() {
  static std::atomic<int> instances{0};
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return absl::StrCat("dispatcher@", host, "/", getpid(), "/", instances.fetch_add(1));
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
    : conninfo_(std::move(conninfo)),
      clock_(clock),
      options_(options),
      scheduler_lease_(collector::cluster::kNotifySchedulerShard, DefaultLeaseOwner()) {}

void Dispatcher::set_lease_owner(const std::string& owner) {
  absl::MutexLock l(&run_mu_);
  scheduler_lease_.set_owner(owner);
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::SetConfig(const v1::Config& config) {
  SetConfig(std::make_shared<const v1::Config>(config));
}

void Dispatcher::SetConfig(std::shared_ptr<const v1::Config> config) {
  absl::MutexLock l(&config_mu_);
  config_ = std::move(config);
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
  if (thread_.joinable()) {
    {
      absl::MutexLock l(&thread_mu_);
      stop_ = true;
    }
    thread_.join();
  }
  absl::MutexLock l(&run_mu_);
  scheduler_lease_.Release(conn_.get());
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

void Dispatcher::AppendMetrics(common::MetricsText* out) const {
  const DispatcherStats& s = stats_;
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
  out->Add("sonde_notify_scheduler_fenced_total", "counter",
           "Scheduling passes refused because this replica no longer held the scheduler's "
           "lease (shard -1) under the epoch it held (rolled back).",
           static_cast<double>(s.scheduler_fenced));
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
  auto conn = collector::pg::Connect(conninfo_, "sonde-notify");
  if (!conn.ok()) {
    return Watch(conn.status());
  }
  conn_ = *std::move(conn);
  if (in_outage_) {
    spdlog::info("notify: PostgreSQL reachable again");
    in_outage_ = false;
  }
  return absl::OkStatus();
}

absl::Status Dispatcher::Watch(absl::Status status) {
  if (absl::IsUnavailable(status)) {
    conn_.reset();
    if (!in_outage_) {
      spdlog::warn("notify: PostgreSQL unreachable, notifications wait: {}",
                   std::string(status.message()));
      in_outage_ = true;
    }
  }
  return status;
}

absl::StatusOr<Dispatcher::PgResultPtr> Dispatcher::Exec(const std::string& sql,
                                                         const std::vector<std::string>& params) {
  if (conn_ == nullptr) {
    return absl::UnavailableError("notify: not connected");
  }
  auto r = collector::pg::ExecParams(conn_.get(), sql, params, "notify");
  if (!r.ok()) {
    return Watch(r.status());
  }
  return r;
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
  std::set<std::string> failed;  // notifiers that failed in this pass
  for (int i = 0; st.ok() && i < options_.batch_size; ++i) {
    bool found = false;
    st = DeliverOne(*config, now, &found, &failed);
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
      stats_.pending.store(n);
    } else {
      st = r.status();
    }
  }
  if (!st.ok()) {
    collector::pg::RollbackQuietly(conn_.get());
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
  // One replica schedules: the holder of the scheduler's lease.
  ASSIGN_OR_RETURN(std::optional<collector::cluster::LeaseFence> fence,
                   Watch(scheduler_lease_.Hold(conn_.get())));
  if (!fence.has_value()) {
    return absl::OkStatus();  // another replica holds it
  }
  // Not pg::InTransaction: Exec and Watch drop the connection when it is
  // lost, so the rollback must look at conn_ again, not at a saved pointer.
  RETURN_IF_ERROR(Exec("BEGIN", {}).status());
  absl::Status st = ScheduleInTransaction(config, now, *fence);
  if (st.ok()) {
    st = Exec("COMMIT", {}).status();
  }
  if (!st.ok()) {
    collector::pg::RollbackQuietly(conn_.get());
  }
  return st;
}

absl::Status Dispatcher::ScheduleInTransaction(const v1::Config& config, absl::Time now,
                                               const collector::cluster::LeaseFence& fence) {
  OutboxWriter outbox(conn_.get(), &fence);
  if (absl::Status st = Watch(outbox.Fence()); !st.ok()) {
    if (!absl::IsFailedPrecondition(st)) {
      return st;
    }
    // Paused past the lease, and another replica took it: write nothing.
    scheduler_lease_.Lost();
    stats_.scheduler_fenced.fetch_add(1);
    spdlog::warn("notify: {}; this replica no longer schedules", std::string(st.message()));
    return absl::OkStatus();
  }

  // Incidents that opened inside a maintenance window and outlived it were
  // never paged: page them now (OPENED), as if they had just opened.
  ASSIGN_OR_RETURN(PgResultPtr silenced,
                   Exec(absl::StrCat("SELECT ", kIncidentColumns,
                                     " FROM incidents i WHERE i.resolved_at IS NULL"
                                     " AND i.in_maintenance ORDER BY i.opened_at, i.id"),
                        {}));
  for (int row = 0; row < PQntuples(silenced.get()); ++row) {
    v1::Incident inc = IncidentFromRow(silenced.get(), row);
    ASSIGN_OR_RETURN(int paged, Watch(outbox.EndMaintenance(config, inc, now)));
    if (paged >= 0) {
      spdlog::info("notify: incident {} outlived its maintenance window", inc.id());
      stats_.scheduled.fetch_add(paged);
    }
  }

  ASSIGN_OR_RETURN(PgResultPtr open,
                   Exec(absl::StrCat("SELECT ", kIncidentColumns,
                                     " FROM incidents i WHERE i.resolved_at IS NULL"
                                     " AND i.acknowledged_at IS NULL AND NOT i.in_maintenance"
                                     " AND i.severity = 'PAGE' ORDER BY i.opened_at, i.id"),
                        {}));
  for (int row = 0; row < PQntuples(open.get()); ++row) {
    const v1::Incident inc = IncidentFromRow(open.get(), row);
    if (ActiveMaintenance(config, inc, now) != nullptr) {
      continue;  // a window began after the incident opened: stay quiet
    }
    const absl::Time opened = common::ToTime(inc.opened_at());
    for (const v1::Notifier* n : Routes(config, inc)) {
      const absl::Duration repeat = common::ToAbsl(n->repeat_every());
      if (repeat > absl::ZeroDuration() && opened <= now - repeat) {
        ASSIGN_OR_RETURN(bool queued, Watch(outbox.Repeat(*n, inc, now, repeat)));
        if (queued) {
          stats_.scheduled.fetch_add(1);
        }
      }
      const absl::Duration escalate = common::ToAbsl(n->escalate_after());
      if (escalate > absl::ZeroDuration() && !n->escalate_to().empty() &&
          opened <= now - escalate) {
        const std::string& to = n->escalate_to();
        ASSIGN_OR_RETURN(bool queued, Watch(outbox.Escalate(to, n->name(), inc, now, escalate)));
        if (queued) {
          stats_.scheduled.fetch_add(1);
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
    ASSIGN_OR_RETURN(bool queued, Watch(outbox.Heartbeat(n, now, every)));
    if (queued) {
      stats_.scheduled.fetch_add(1);
    }
  }
  return absl::OkStatus();
}

absl::Status Dispatcher::DeliverOne(const v1::Config& config, absl::Time now, bool* found,
                                    std::set<std::string>* failed) {
  *found = false;
  RETURN_IF_ERROR(Exec("BEGIN", {}).status());
  // A PostgreSQL text[] literal of the notifiers to pass over.
  std::string skip = "{";
  for (const std::string& name : *failed) {
    absl::StrAppend(&skip, skip.size() > 1 ? "," : "", "\"",
                    absl::StrReplaceAll(name, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
  }
  skip += "}";
  auto claimed = Exec(
      "SELECT o.id, o.incident_id, o.notifier, o.event, o.payload::text,"
      " o.attempts, i.acknowledged_at IS NOT NULL, i.resolved_at IS NOT NULL"
      " FROM outbox o LEFT JOIN incidents i ON i.id = o.incident_id"
      " WHERE o.delivered_at IS NULL AND o.next_attempt_at <= $1"
      " AND o.notifier <> ALL ($2::text[])"
      " ORDER BY o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED",
      {collector::pg::Timestamp(now), skip});
  if (!claimed.ok() || PQntuples(claimed->get()) == 0) {
    collector::pg::RollbackQuietly(conn_.get());
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
      stats_.skipped.fetch_add(1);
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
      stats_.abandoned.fetch_add(1);
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
        st = Watch(OutboxWriter(conn_.get()).AddEventFromRow(incident_id, now, "NOTIFIED", what));
      }
      if (st.ok()) {
        stats_.delivered.fetch_add(1);
      }
    } else {
      thread_local absl::BitGen bitgen;
      const absl::Duration delay =
          Backoff(attempts + 1, absl::Uniform(bitgen, -1.0, 1.0), options_);
      spdlog::warn("notify: {} failed (attempt {}), retry in {}: {}", what, attempts + 1,
                   absl::FormatDuration(delay), sent.ToString());
      failed->insert(notifier_name);
      st = Exec(
               "UPDATE outbox SET attempts = attempts + 1, last_error = $2,"
               " next_attempt_at = $3 WHERE id = $1",
               {id, std::string(sent.message()), collector::pg::Timestamp(now + delay)})
               .status();
      if (st.ok() && has_incident && attempts == 0) {
        st = Watch(OutboxWriter(conn_.get())
                       .AddEventFromRow(incident_id, now, "DELIVERY_FAILED",
                                        absl::StrCat(what, ": ", sent.message(), " (retrying)")));
      }
      if (st.ok()) {
        stats_.failed_attempts.fetch_add(1);
      }
    }
  }
  if (st.ok()) {
    st = Exec("COMMIT", {}).status();
  }
  if (!st.ok()) {
    collector::pg::RollbackQuietly(conn_.get());
  }
  return st;
}

}  // namespace sonde::notify
