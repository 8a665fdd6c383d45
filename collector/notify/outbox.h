// OutboxWriter: the one writer of the `outbox` table (notifications waiting
// for delivery) and of the incident timeline (`incident_events`). Every page,
// repeat, escalation, heartbeat and timeline line goes through it, so routing
// (notify::Routes), maintenance windows (notify::ActiveMaintenance) and the
// stored document (NotificationJson) are decided in one place.
//
// It borrows a libpq connection and writes inside the caller's transaction:
// the IncidentStore records an incident change and its notifications in one
// commit, the Dispatcher schedules reminders and notes deliveries in its
// own. It holds no state of its own; one thread at a time (the connection's).
// Times are always the caller's `now`, never the database's now().
//
// Fencing (docs/ha.md): given a LeaseFence, the writer's transaction must
// begin with Fence() (the caller's first statement), and every timeline and
// outbox row it adds carries the fence's epoch in `lease_epoch` (NULL
// without a fence: a collector not in cluster mode, a person's UPDATE, a
// delivery's NOTIFIED line).
#ifndef SONDE_COLLECTOR_NOTIFY_OUTBOX_H_
#define SONDE_COLLECTOR_NOTIFY_OUTBOX_H_

#include <libpq-fe.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collector/cluster/shard_leases.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::notify {

class OutboxWriter {
 public:
  // `conn` is borrowed and must be inside a transaction the caller commits.
  // `fence` (borrowed; null = unfenced) stamps the rows' lease_epoch.
  explicit OutboxWriter(PGconn* conn, const collector::cluster::LeaseFence* fence = nullptr);

  // The fenced transaction's first statement: OK while the fence's owner
  // holds its shard under its epoch (the lease row stays locked FOR SHARE
  // until the transaction ends); FAILED_PRECONDITION "fenced" otherwise --
  // roll back. OK at once without a fence.
  absl::Status Fence();
  // The fence's epoch as a text parameter for `NULLIF($n, '')::bigint`: the
  // lease_epoch of a row the caller writes itself ("" without a fence).
  const std::string& epoch_param() const { return epoch_; }

  // Timeline line `kind` for `incident` as it is at `at`, with the regions
  // of that moment (the incident row may keep a wider scope).
  absl::Status AddEvent(const v1::Incident& incident, const std::vector<std::string>& regions,
                        absl::Time at, absl::string_view kind, absl::string_view detail);
  // Timeline line `kind` copying the incident's stored row (kind, regions,
  // counts). Nothing is written for an unknown id.
  absl::Status AddEventFromRow(const std::string& incident_id, absl::Time at,
                               absl::string_view kind, absl::string_view detail);

  // Timeline line UPDATE: a person's words for the status page and the
  // feed, copying the incident's stored row like AddEventFromRow. False
  // (nothing written) for an unknown id.
  absl::StatusOr<bool> AddUpdate(const std::string& incident_id, absl::Time at,
                                 absl::string_view message);

  // Timeline line SILENCED: `event` was not sent because of `window` (null:
  // the incident opened in maintenance and is still marked so).
  absl::Status AddSilenced(const v1::Incident& incident, const std::vector<std::string>& regions,
                           absl::Time at, const v1::MaintenanceWindow* window,
                           absl::string_view event);

  // One outbox row per notifier Routes() names for the incident; returns the
  // number of rows queued.
  absl::StatusOr<int> Page(const v1::Config& config, const v1::Incident& incident,
                           absl::string_view event, absl::Time now);

  // For an incident marked in_maintenance that no window of `config` covers
  // at `now`: clears the mark, adds MAINTENANCE_ENDED to the timeline and,
  // unless it was acknowledged, pages it as OPENED. Returns the rows queued,
  // or -1 when a window still covers it (nothing written).
  absl::StatusOr<int> EndMaintenance(const v1::Config& config, v1::Incident incident,
                                     absl::Time now);

  // A REPEAT row for `notifier` unless one of its rows for the incident is
  // newer than now - `every`. True when queued.
  absl::StatusOr<bool> Repeat(const v1::Notifier& notifier, const v1::Incident& incident,
                              absl::Time now, absl::Duration every);
  // An ESCALATED row for notifier `to` unless the incident already has one
  // for it; when queued, also the ESCALATED timeline line naming `from`
  // and `after`. True when queued.
  absl::StatusOr<bool> Escalate(const std::string& to, const std::string& from,
                                const v1::Incident& incident, absl::Time now, absl::Duration after);
  // A HEARTBEAT row for `notifier` unless it has one newer than now -
  // `every`. True when queued.
  absl::StatusOr<bool> Heartbeat(const v1::Notifier& notifier, absl::Time now,
                                 absl::Duration every);

 private:
  absl::StatusOr<bool> Queue(const std::string& sql, const std::vector<std::string>& params);

  PGconn* const conn_;
  const collector::cluster::LeaseFence* const fence_;
  const std::string epoch_;  // the fence's epoch as a parameter; "" = NULL
};

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_OUTBOX_H_
