// The schema: versioned migrations, append-only (a released migration is
// never edited, a change is a new one), applied at start in one transaction
// under an advisory lock so several collectors may start at once. Tables:
// results (+ daily partitions), ingested_batches, rollup_minute(_class),
// gaps (migrations 1-2); incidents, incident_events, outbox (migration 3);
// rollup_hour(_class), rollup_day(_class), latency histograms and every
// rollup partitioned (migration 4, with sonde_hist_sum); the column
// incidents.failing_since (migration 5); collector_members, cluster_config,
// shard_leases (migration 6, docs/ha.md). `sonde-collector migrate` is
// migrate_command.h. Called on the thread that starts the collector.
#ifndef SONDE_COLLECTOR_STORAGE_MIGRATIONS_H_
#define SONDE_COLLECTOR_STORAGE_MIGRATIONS_H_

#include <libpq-fe.h>

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace sonde::collector {

// Applies the migrations the database lacks (call outside a transaction).
// Idempotent. A database whose schema is newer than this binary knows (a
// newer collector migrated it) is FAILED_PRECONDITION and nothing changes:
// an older collector must not write to a schema it does not understand.
absl::Status ApplyMigrations(PGconn* conn);

struct MigrationInfo {
  int version;
  std::string description;
};
// Every migration this binary knows, oldest first (`sonde-collector migrate
// --dry-run` lists those the database lacks).
std::vector<MigrationInfo> KnownMigrations();

// OK when a database whose newest applied migration is `applied_max` (0:
// none) may be used by this binary; FAILED_PRECONDITION naming both
// versions otherwise.
absl::Status CheckSchemaNotNewer(int applied_max);

// The newest schema version this binary knows.
int LatestSchemaVersion();

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_MIGRATIONS_H_
