// The schema: versioned migrations, append-only (a released migration is
// never edited, a change is a new one), applied at start in one transaction
// under an advisory lock so several collectors may start at once. Tables:
// results (+ daily partitions), ingested_batches, rollup_minute(_class),
// gaps (migrations 1-2); incidents, incident_events, outbox (migration 3).
#ifndef SONDE_COLLECTOR_STORAGE_MIGRATIONS_H_
#define SONDE_COLLECTOR_STORAGE_MIGRATIONS_H_

#include <libpq-fe.h>

#include "absl/status/status.h"

namespace sonde::collector {

// Applies the migrations the database lacks (call outside a transaction).
// Idempotent.
absl::Status ApplyMigrations(PGconn* conn);

// The newest schema version this binary knows.
int LatestSchemaVersion();

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_MIGRATIONS_H_
