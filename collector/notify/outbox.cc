#include "collector/notify/outbox.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collector/notify/routing.h"
#include "collector/notify/senders/notification.h"
#include "collector/storage/pg/pg.h"
#include "common/status_macros.h"

namespace sonde::notify {
namespace {

// A row that is due at once: created and next attempt at `now`.
constexpr char kInsertOutbox[] =
    "INSERT INTO outbox (incident_id, notifier, event, payload, created_at, next_attempt_at,"
    " lease_epoch)";

std::string Number(double v) { return absl::StrFormat("%.17g", v); }

}  // namespace

OutboxWriter::OutboxWriter(PGconn* conn, const collector::cluster::LeaseFence* fence)
    : conn_(conn), fence_(fence), epoch_(fence != nullptr ? absl::StrCat(fence->epoch) : "") {}

absl::Status OutboxWriter::Fence() {
  if (fence_ == nullptr) {
    return absl::OkStatus();
  }
  return collector::cluster::ShardLeases().Fence(conn_, *fence_);
}

absl::Status OutboxWriter::AddEvent(const v1::Incident& incident,
                                    const std::vector<std::string>& regions, absl::Time at,
                                    absl::string_view kind, absl::string_view detail) {
  return collector::pg::ExecParams(
             conn_,
             "INSERT INTO incident_events (incident_id, at, kind, incident_kind, regions,"
             " affected_targets, recovered_targets, failing_share, detail, lease_epoch)"
             " VALUES ($1, $2::timestamptz, $3, $4, $5::text[], $6, $7, $8, $9,"
             " NULLIF($10, '')::bigint)",
             {incident.id(), collector::pg::Timestamp(at), std::string(kind), incident.kind(),
              collector::pg::ToArray(regions), absl::StrCat(incident.affected_targets()),
              absl::StrCat(incident.recovered_targets()), Number(incident.failing_share()),
              std::string(detail), epoch_},
             "store incident event")
      .status();
}

absl::Status OutboxWriter::AddEventFromRow(const std::string& incident_id, absl::Time at,
                                           absl::string_view kind, absl::string_view detail) {
  return collector::pg::ExecParams(
             conn_,
             "INSERT INTO incident_events (incident_id, at, kind, incident_kind,"
             " regions, affected_targets, recovered_targets, failing_share, detail, lease_epoch)"
             " SELECT id, $2::timestamptz, $3, kind, regions, affected_targets,"
             " recovered_targets, failing_share, $4, NULLIF($5, '')::bigint FROM incidents"
             " WHERE id = $1",
             {incident_id, collector::pg::Timestamp(at), std::string(kind), std::string(detail),
              epoch_},
             "store incident event")
      .status();
}

absl::StatusOr<bool> OutboxWriter::AddUpdate(const std::string& incident_id, absl::Time at,
                                             absl::string_view message) {
  ASSIGN_OR_RETURN(collector::pg::PgResultPtr r,
                   collector::pg::ExecParams(
                       conn_,
                       "INSERT INTO incident_events (incident_id, at, kind, incident_kind,"
                       " regions, affected_targets, recovered_targets, failing_share, detail)"
                       " SELECT id, $2::timestamptz, 'UPDATE', kind, regions, affected_targets,"
                       " recovered_targets, failing_share, $3 FROM incidents WHERE id = $1",
                       {incident_id, collector::pg::Timestamp(at), std::string(message)},
                       "store incident update"));
  return std::string(PQcmdTuples(r.get())) == "1";
}

absl::Status OutboxWriter::AddSilenced(const v1::Incident& incident,
                                       const std::vector<std::string>& regions, absl::Time at,
                                       const v1::MaintenanceWindow* window,
                                       absl::string_view event) {
  const std::string detail = window != nullptr
                                 ? absl::StrCat("maintenance \"", window->name(), "\"",
                                                window->reason().empty() ? "" : ": ",
                                                window->reason(), "; ", event, " not sent")
                                 : absl::StrCat("opened in maintenance; ", event, " not sent");
  return AddEvent(incident, regions, at, "SILENCED", detail);
}

absl::StatusOr<bool> OutboxWriter::Queue(const std::string& sql,
                                         const std::vector<std::string>& params) {
  ASSIGN_OR_RETURN(collector::pg::PgResultPtr r,
                   collector::pg::ExecParams(conn_, sql, params, "queue notification"));
  return std::string(PQcmdTuples(r.get())) == "1";
}

absl::StatusOr<int> OutboxWriter::Page(const v1::Config& config, const v1::Incident& incident,
                                       absl::string_view event, absl::Time now) {
  int queued = 0;
  for (const v1::Notifier* n : Routes(config, incident)) {
    ASSIGN_OR_RETURN(
        bool added,
        Queue(absl::StrCat(kInsertOutbox,
                           " VALUES ($1, $2, $3, $4::json, $5::timestamptz, $5::timestamptz,"
                           " NULLIF($6, '')::bigint)"),
              {incident.id(), n->name(), std::string(event),
               NotificationJson(event, n->name(), &incident, now), collector::pg::Timestamp(now),
               epoch_}));
    queued += added ? 1 : 0;
  }
  return queued;
}

absl::StatusOr<int> OutboxWriter::EndMaintenance(const v1::Config& config, v1::Incident incident,
                                                 absl::Time now) {
  if (ActiveMaintenance(config, incident, now) != nullptr) {
    return -1;
  }
  incident.set_in_maintenance(false);
  RETURN_IF_ERROR(
      collector::pg::ExecParams(conn_, "UPDATE incidents SET in_maintenance = false WHERE id = $1",
                                {incident.id()}, "end maintenance")
          .status());
  RETURN_IF_ERROR(AddEventFromRow(incident.id(), now, "MAINTENANCE_ENDED",
                                  "no maintenance window covers the incident any more"));
  if (!incident.acknowledged_by().empty()) {
    return 0;
  }
  return Page(config, incident, kOpened, now);
}

absl::StatusOr<bool> OutboxWriter::Repeat(const v1::Notifier& notifier,
                                          const v1::Incident& incident, absl::Time now,
                                          absl::Duration every) {
  return Queue(
      absl::StrCat(kInsertOutbox,
                   " SELECT $1, $2, 'REPEAT', $3::json, $4::timestamptz, $4::timestamptz,"
                   " NULLIF($6, '')::bigint"
                   " WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE incident_id = $1"
                   " AND notifier = $2 AND created_at > $5::timestamptz)"),
      {incident.id(), notifier.name(), NotificationJson(kRepeat, notifier.name(), &incident, now),
       collector::pg::Timestamp(now), collector::pg::Timestamp(now - every), epoch_});
}

absl::StatusOr<bool> OutboxWriter::Escalate(const std::string& to, const std::string& from,
                                            const v1::Incident& incident, absl::Time now,
                                            absl::Duration after) {
  ASSIGN_OR_RETURN(
      bool queued,
      Queue(absl::StrCat(kInsertOutbox,
                         " SELECT $1, $2, 'ESCALATED', $3::json, $4::timestamptz, $4::timestamptz,"
                         " NULLIF($5, '')::bigint"
                         " WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE incident_id = $1"
                         " AND notifier = $2 AND event = 'ESCALATED')"),
            {incident.id(), to, NotificationJson(kEscalated, to, &incident, now),
             collector::pg::Timestamp(now), epoch_}));
  if (queued) {
    RETURN_IF_ERROR(AddEventFromRow(
        incident.id(), now, kEscalated,
        absl::StrCat("escalated to \"", to, "\": not acknowledged ", absl::FormatDuration(after),
                     " after opening (by \"", from, "\")")));
  }
  return queued;
}

absl::StatusOr<bool> OutboxWriter::Heartbeat(const v1::Notifier& notifier, absl::Time now,
                                             absl::Duration every) {
  return Queue(absl::StrCat(kInsertOutbox,
                            " SELECT NULL, $1, 'HEARTBEAT', $2::json, $3::timestamptz,"
                            " $3::timestamptz, NULLIF($5, '')::bigint WHERE NOT EXISTS (SELECT 1"
                            " FROM outbox WHERE incident_id IS NULL AND notifier = $1"
                            " AND event = 'HEARTBEAT' AND created_at > $4::timestamptz)"),
               {notifier.name(), NotificationJson(kHeartbeat, notifier.name(), nullptr, now),
                collector::pg::Timestamp(now), collector::pg::Timestamp(now - every), epoch_});
}

}  // namespace sonde::notify
