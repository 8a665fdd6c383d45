// IncidentStore: incidents in PostgreSQL (table `incidents`; migration 3 in
// collector/storage/migrations.cc), and the reads the Query API needs
// (list, timeline, acknowledge).
//
// Record() is the transactional-outbox write: the incident rows, and
// through notify::OutboxWriter one timeline row per detector event and one
// outbox row per notification the events cause, commit together, so a
// notification is never lost nor sent for a change that was not stored.
// notify::Dispatcher delivers the outbox.
//
// Owns one libpq connection, opened lazily and reopened after a failure (a
// call that finds PostgreSQL down returns UNAVAILABLE; the next one tries
// again). Not thread-safe: one thread, or the caller's mutex.
#ifndef SONDE_COLLECTOR_INCIDENTS_INCIDENT_STORE_H_
#define SONDE_COLLECTOR_INCIDENTS_INCIDENT_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/cluster/shard_leases.h"
#include "collector/detect/incident.h"
#include "collector/notify/outbox.h"
#include "collector/storage/pg/pg.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// The stored/user-facing form of a detector incident (no ack fields).
v1::Incident ToProto(const detect::Incident& incident);
// Back to the detector's form (for RestoreIncidents after a restart).
detect::Incident FromProto(const v1::Incident& incident);

class IncidentStore {
 public:
  explicit IncidentStore(std::string conninfo);

  // Stores `events` (in order) in one transaction: each incident row is
  // upserted from the event's snapshot, a timeline row is added, and when
  // the events hold an OPENED, RECLASSIFIED, REGIONS_CHANGED or RESOLVED of
  // an incident, ONE outbox row per notifier notify::Routes() names (the
  // strongest event, newest snapshot: a storm of changes within one batch
  // is one page) — unless a maintenance window of `config` covers the
  // incident at the event's time: then the incident is marked
  // in_maintenance and the timeline says SILENCED instead. On error nothing
  // is written.
  //
  // With a `fence` (cluster mode, docs/ha.md) the transaction first checks
  // that the fence's owner still holds the shard under its epoch, and every
  // incident, timeline and outbox row written carries that epoch
  // (`lease_epoch`); FAILED_PRECONDITION "fenced" when it does not hold it:
  // nothing is written, the caller drops the shard. With a fence and a
  // finite `recorded_until` (every event the shard decided up to it is in
  // `events` or recorded before), the same transaction moves the shard's
  // shard_leases.recorded_until to it (docs/ha.md, "What a rebuild writes").
  absl::Status Record(const std::vector<detect::IncidentEvent>& events, const v1::Config& config,
                      absl::Time now, const cluster::LeaseFence* fence = nullptr,
                      absl::Time recorded_until = absl::InfinitePast());

  // Open incidents, for the detector to continue after a restart.
  absl::StatusOr<std::vector<detect::Incident>> LoadOpen();

  // Open incidents, plus (include_resolved) those opened since `since`;
  // newest first; `service` "" = all.
  absl::StatusOr<std::vector<v1::Incident>> List(bool include_resolved, absl::Time since,
                                                 const std::string& service);
  // NOT_FOUND for an unknown id.
  absl::StatusOr<v1::TimelineReply> Timeline(const std::string& id);
  // Marks the incident acknowledged (first acknowledgement wins; repeats and
  // escalations stop) and adds an ACKNOWLEDGED timeline row. NOT_FOUND for
  // an unknown id.
  absl::StatusOr<v1::AcknowledgeReply> Acknowledge(const std::string& id, const std::string& by,
                                                   const std::string& comment, absl::Time now);

  // Adds a person's UPDATE line (`message`, already made safe) to the
  // timeline at `now`. NOT_FOUND for an unknown id.
  absl::StatusOr<v1::PostUpdateReply> PostUpdate(const std::string& id, const std::string& message,
                                                 absl::Time now);

 private:
  // A notification decided by a Record() batch, not yet queued.
  struct Pending {
    const char* event = nullptr;  // notify::kOpened, ...
    v1::Incident incident;        // newest snapshot
    std::string kind_before;      // the incident's kind before the batch
    bool regions_changed = false;
  };
  absl::StatusOr<PGconn*> Conn();
  absl::Status RecordOne(const detect::IncidentEvent& event, const v1::Config& config,
                         notify::OutboxWriter* outbox, std::map<std::string, Pending>* pending);
  absl::Status QueueNotifications(const std::map<std::string, Pending>& pending,
                                  const v1::Config& config, absl::Time now,
                                  notify::OutboxWriter* outbox);
  absl::StatusOr<v1::Incident> Get(const std::string& id);
  // Drops the connection after UNAVAILABLE so the next call reconnects.
  template <typename T>
  T Watch(T result);

  const std::string conninfo_;
  pg::PgConnPtr conn_;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_INCIDENTS_INCIDENT_STORE_H_
