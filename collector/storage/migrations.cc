#include "collector/storage/migrations.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/substitute.h"
#include "collector/storage/pg/pg.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

using pg::Exec;
using pg::ExecParams;
using pg::PgResultPtr;

// Advisory lock key ("sonde" + a small number); any stable constant does.
constexpr int64_t kMigrationLockKey = 0x736f6e6465000001;

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Migration 4: `table` (primary key `key`, time column `column`, an index
// named table_column on it) becomes partitioned by range of `column`; its
// rows so far stay in `table`_default, which `alter_default` (SQL, may be
// empty) changes first so that the new table copies its columns.
std::string PartitionExisting(absl::string_view table, absl::string_view key,
                              absl::string_view column, absl::string_view alter_default) {
  return absl::Substitute(R"sql(
ALTER TABLE $0 RENAME TO $0_default;
ALTER INDEX $0_pkey RENAME TO $0_default_pkey;
ALTER INDEX $0_$2 RENAME TO $0_default_$2;
$3
CREATE TABLE $0 (LIKE $0_default INCLUDING DEFAULTS)
  PARTITION BY RANGE ($2);
ALTER TABLE $0 ADD PRIMARY KEY ($1);
ALTER TABLE $0 ATTACH PARTITION $0_default DEFAULT;
CREATE INDEX $0_$2 ON $0 ($2);
)sql",
                          table, key, column, alter_default);
}

// Migration 4: the tables of one coarser rollup level (`level` is "hour" or
// "day": the table suffix, the time column and date_trunc's unit), with
// their DEFAULT partitions, indexes and the table comment `comment`.
std::string RollupLevelTables(absl::string_view level, absl::string_view comment) {
  return absl::Substitute(R"sql(
CREATE TABLE rollup_$0 (
  check_id         text        NOT NULL,
  service          text        NOT NULL,
  region           text        NOT NULL,
  $0               timestamptz NOT NULL,
  probes           bigint      NOT NULL,
  failures         bigint      NOT NULL,
  prober_errors    bigint      NOT NULL DEFAULT 0,
  last_result      timestamptz NOT NULL,
  dns_hist         bigint[] NOT NULL DEFAULT '{0}',
  connect_hist     bigint[] NOT NULL DEFAULT '{0}',
  tls_hist         bigint[] NOT NULL DEFAULT '{0}',
  first_byte_hist  bigint[] NOT NULL DEFAULT '{0}',
  total_hist       bigint[] NOT NULL DEFAULT '{0}',
  PRIMARY KEY (check_id, region, $0)
) PARTITION BY RANGE ($0);
CREATE TABLE rollup_$0_default PARTITION OF rollup_$0 DEFAULT;
CREATE INDEX rollup_$0_$0 ON rollup_$0 ($0);
CREATE TABLE rollup_$0_class (
  check_id         text        NOT NULL,
  region           text        NOT NULL,
  $0               timestamptz NOT NULL,
  failure_class    text        NOT NULL,
  n                bigint      NOT NULL,
  PRIMARY KEY (check_id, region, $0, failure_class)
) PARTITION BY RANGE ($0);
CREATE TABLE rollup_$0_class_default PARTITION OF rollup_$0_class DEFAULT;
CREATE INDEX rollup_$0_class_$0 ON rollup_$0_class ($0);
COMMENT ON TABLE rollup_$0 IS
  '$1';
)sql",
                          level, comment);
}

// Migration 4: what the minutes so far say about one coarser `level` (no
// latency: it was not kept before).
std::string RollupLevelBackfill(absl::string_view level) {
  return absl::Substitute(R"sql(
INSERT INTO rollup_$0 (check_id, service, region, $0, probes, failures, prober_errors,
                       last_result)
  SELECT check_id, (array_agg(service ORDER BY minute DESC))[1], region,
         date_trunc('$0', minute, 'UTC'), sum(probes), sum(failures), sum(prober_errors),
         max(last_result)
  FROM rollup_minute GROUP BY check_id, region, date_trunc('$0', minute, 'UTC');
INSERT INTO rollup_$0_class (check_id, region, $0, failure_class, n)
  SELECT check_id, region, date_trunc('$0', minute, 'UTC'), failure_class, sum(n)
  FROM rollup_minute_class GROUP BY check_id, region, date_trunc('$0', minute, 'UTC'), failure_class;
)sql",
                          level);
}

// Migration 4's SQL, built once from the templates above.
const char* Migration4() {
  static const std::string* const kSql = new std::string(absl::StrCat(
      R"sql(
-- Histograms: counts per latency bucket (collector/storage/latency_buckets.h),
-- trailing zeros dropped; they merge by adding element by element.
CREATE FUNCTION sonde_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i), '{}')
  FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)
$$;
CREATE AGGREGATE sonde_hist_sum(bigint[]) (
  SFUNC = sonde_hist_add, STYPE = bigint[], INITCOND = '{}');

-- rollup_minute and rollup_minute_class become partitioned (daily, like
-- results); the rows so far stay in their DEFAULT partition until their
-- day gets a partition or retention prunes them.
)sql",
      PartitionExisting("rollup_minute", "check_id, region, minute", "minute", R"sql(
ALTER TABLE rollup_minute_default
  ADD COLUMN dns_hist bigint[] NOT NULL DEFAULT '{0}',
  ADD COLUMN connect_hist bigint[] NOT NULL DEFAULT '{0}',
  ADD COLUMN tls_hist bigint[] NOT NULL DEFAULT '{0}',
  ADD COLUMN first_byte_hist bigint[] NOT NULL DEFAULT '{0}',
  ADD COLUMN total_hist bigint[] NOT NULL DEFAULT '{0}';)sql"),
      R"sql(
COMMENT ON TABLE rollup_minute IS
  'per check x region x minute (UTC); daily partitions rollup_minute_pYYYYMMDD plus rollup_minute_default';
COMMENT ON COLUMN rollup_minute.probes IS 'results that measured the target (PROBER_ERROR excluded)';
)sql",
      PartitionExisting("rollup_minute_class", "check_id, region, minute, failure_class", "minute",
                        ""),
      RollupLevelTables("hour",
                        "per check x region x hour (UTC); monthly partitions "
                        "rollup_hour_pYYYYMM plus rollup_hour_default"),
      RollupLevelTables("day",
                        "per check x region x UTC day; yearly partitions rollup_day_pYYYY "
                        "plus rollup_day_default"),
      RollupLevelBackfill("hour"), RollupLevelBackfill("day")));
  return kSql->c_str();
}

// Append-only: a released migration is never edited, a change is a new one.
// Migration 4 is built from the templates above; the schema it makes is the
// one its hand-written SQL made (same tables, columns, keys, indexes).
const Migration kMigrations[] = {
    {1, "results, ingested_batches, rollups", R"sql(
CREATE TABLE results (
  prober_id        text        NOT NULL,
  seq              bigint      NOT NULL,
  check_id         text        NOT NULL,
  service          text        NOT NULL,
  kind             text        NOT NULL,
  region           text        NOT NULL,
  started_at       timestamptz NOT NULL,
  ok               boolean     NOT NULL,
  failure_class    text        NOT NULL,
  detail           text        NOT NULL,
  dns_us           integer     NOT NULL,
  connect_us       integer     NOT NULL,
  tls_us           integer     NOT NULL,
  first_byte_us    integer     NOT NULL,
  total_us         integer     NOT NULL,
  target           text        NOT NULL,
  resolved_address text        NOT NULL,
  http_status      integer     NOT NULL,
  request_index    integer     NOT NULL,
  tls_version      text        NOT NULL,
  cert_not_after   timestamptz,
  cert_days_left   integer,
  dns_rcode        text        NOT NULL,
  banner           text        NOT NULL,
  extra            jsonb       NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (started_at);
COMMENT ON TABLE results IS
  'One row per probe result; daily partitions results_pYYYYMMDD (UTC) plus results_default.';
CREATE TABLE results_default PARTITION OF results DEFAULT;
CREATE INDEX results_check_region_started ON results (check_id, region, started_at);

CREATE TABLE ingested_batches (
  prober_id   text        NOT NULL,
  batch_seq   bigint      NOT NULL,
  results     integer     NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (prober_id, batch_seq)
);

CREATE TABLE rollup_minute (
  check_id      text        NOT NULL,
  service       text        NOT NULL,
  region        text        NOT NULL,
  minute        timestamptz NOT NULL,
  probes        bigint      NOT NULL,
  failures      bigint      NOT NULL,
  prober_errors bigint      NOT NULL DEFAULT 0,
  last_result   timestamptz NOT NULL,
  PRIMARY KEY (check_id, region, minute)
);
COMMENT ON COLUMN rollup_minute.probes IS 'results that measured the target (PROBER_ERROR excluded)';
CREATE INDEX rollup_minute_minute ON rollup_minute (minute);

CREATE TABLE rollup_minute_class (
  check_id      text        NOT NULL,
  region        text        NOT NULL,
  minute        timestamptz NOT NULL,
  failure_class text        NOT NULL,
  n             bigint      NOT NULL,
  PRIMARY KEY (check_id, region, minute, failure_class)
);
CREATE INDEX rollup_minute_class_minute ON rollup_minute_class (minute);
)sql"},
    {2, "gaps", R"sql(
CREATE TABLE gaps (
  prober_id       text        NOT NULL,
  region          text        NOT NULL,
  first_batch_seq bigint      NOT NULL,
  last_batch_seq  bigint      NOT NULL,
  results         bigint      NOT NULL,
  from_time       timestamptz,
  to_time         timestamptz,
  received_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (prober_id, first_batch_seq)
);
COMMENT ON TABLE gaps IS 'results a prober dropped (spool over its cap): no data, not downtime';
CREATE INDEX gaps_to_time ON gaps (to_time);
)sql"},
    {3, "incidents, incident_events, outbox", R"sql(
CREATE TABLE incidents (
  id                 text        PRIMARY KEY,
  kind               text        NOT NULL,
  severity           text        NOT NULL,
  service            text        NOT NULL,
  checks             text[]      NOT NULL,
  regions            text[]      NOT NULL,
  hosts              text[]      NOT NULL,
  protocol           text        NOT NULL,
  failure_class      text        NOT NULL,
  failing_share      double precision NOT NULL,
  latency_phase      text        NOT NULL,
  latency_p95_ms     double precision NOT NULL,
  latency_baseline_p95_ms double precision NOT NULL,
  affected_targets   integer     NOT NULL,
  recovered_targets  integer     NOT NULL,
  evidence           text        NOT NULL,
  opened_at          timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  resolved_at        timestamptz,
  acknowledged_at    timestamptz,
  acknowledged_by    text,
  in_maintenance     boolean     NOT NULL DEFAULT false
);
COMMENT ON TABLE incidents IS 'one row per incident, kept current; resolved_at NULL while open';
CREATE INDEX incidents_open ON incidents (opened_at) WHERE resolved_at IS NULL;
CREATE INDEX incidents_opened_at ON incidents (opened_at);

CREATE TABLE incident_events (
  id                 bigserial   PRIMARY KEY,
  incident_id        text        NOT NULL REFERENCES incidents (id),
  at                 timestamptz NOT NULL,
  kind               text        NOT NULL,
  incident_kind      text        NOT NULL,
  regions            text[]      NOT NULL,
  affected_targets   integer     NOT NULL,
  recovered_targets  integer     NOT NULL,
  failing_share      double precision NOT NULL,
  detail             text        NOT NULL
);
COMMENT ON TABLE incident_events IS 'incident timeline: detector events, notifications, acknowledgements';
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

CREATE TABLE outbox (
  id                 bigserial   PRIMARY KEY,
  incident_id        text        REFERENCES incidents (id),
  notifier           text        NOT NULL,
  event              text        NOT NULL,
  payload            json        NOT NULL,  -- json, not jsonb: sent byte for byte (HMAC)
  created_at         timestamptz NOT NULL DEFAULT now(),
  next_attempt_at    timestamptz NOT NULL DEFAULT now(),
  attempts           integer     NOT NULL DEFAULT 0,
  delivered_at       timestamptz,
  last_error         text
);
COMMENT ON TABLE outbox IS 'notifications to deliver, written in the transaction of the incident change that caused them';
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_incident ON outbox (incident_id, notifier, id);
)sql"},
    {4, "rollups at 1 minute, 1 hour and 1 day with latency histograms, all partitioned",
     Migration4()},
    {5, "incidents.failing_since for availability", R"sql(
ALTER TABLE incidents ADD COLUMN failing_since timestamptz;
COMMENT ON COLUMN incidents.failing_since IS
  'first failing result of the incident (its checks in its regions, after their last passing result, at most 1 h before opened_at): availability counts the outage from here to resolved_at (when the condition cleared); NULL = opened_at';
CREATE INDEX incidents_resolved_at ON incidents (resolved_at);
)sql"},
    {6, "collector replicas, their config version, shard leases", R"sql(
CREATE TABLE collector_members (
  replica_id     text        PRIMARY KEY,
  address        text        NOT NULL,
  software       text        NOT NULL,
  config_version text        NOT NULL,
  started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_seen      timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE collector_members IS
  'one row per collector replica (docs/ha.md); last_seen by the database clock, every 2 s; live = last_seen within 10 s; rows unseen for a day are deleted';
COMMENT ON COLUMN collector_members.config_version IS
  'the version of the Sonde config the replica runs; empty without --config';
CREATE TABLE cluster_config (
  id          boolean     PRIMARY KEY DEFAULT true CHECK (id),
  version     text        NOT NULL,
  recorded_by text        NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE cluster_config IS
  'the one config version the replicas run detection on (docs/ha.md, "One config version"); one row';
CREATE TABLE shard_leases (
  shard      integer     PRIMARY KEY,
  owner      text        NOT NULL,
  epoch      bigint      NOT NULL,
  expires_at timestamptz NOT NULL
);
COMMENT ON TABLE shard_leases IS
  'who owns each detection shard (0..63; -1 the notification scheduler) until expires_at by the database clock; every new owner bumps epoch, and fenced writes check (owner, epoch) in their transaction (docs/ha.md)';
)sql"},
    {7, "rollup_hour and rollup_day count their minutes with results", R"sql(
ALTER TABLE rollup_minute ADD COLUMN merged boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN rollup_minute.merged IS
  'true once a later ingest transaction added to the row (a minute in several batches, a late result); the upsert returns it to tell a new minute from an existing one';
ALTER TABLE rollup_hour ADD COLUMN minutes_with_results smallint;
ALTER TABLE rollup_day ADD COLUMN minutes_with_results smallint;
COMMENT ON COLUMN rollup_hour.minutes_with_results IS
  'distinct minutes of the hour with a rollup_minute row (60 = every minute had results); NULL = unknown (the row is older than migration 7): the report scans its minutes';
COMMENT ON COLUMN rollup_day.minutes_with_results IS
  'distinct minutes of the day with a rollup_minute row (1440 = every minute had results); NULL = unknown (older than migration 7)';
)sql"},
    {8, "result_feed: the durable feed of results to detection shard owners", R"sql(
CREATE TABLE result_feed (
  xid        xid8        NOT NULL DEFAULT pg_current_xact_id(),
  shard      smallint    NOT NULL,
  prober_id  text        NOT NULL,
  region     text        NOT NULL,
  first_seq  bigint      NOT NULL,
  last_seq   bigint      NOT NULL,
  from_time  timestamptz NOT NULL,
  to_time    timestamptz NOT NULL,
  results    integer     NOT NULL,
  checks     text[]      NOT NULL,
  complete_before timestamptz,
  at         timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (at);
COMMENT ON TABLE result_feed IS
  'one row per detection shard a stored batch touched, written in the batch''s transaction (xid): its results are those of `results` with this prober, region, one of these checks, seq in [first_seq, last_seq] and started_at in [from_time, to_time]; complete_before is the batch''s promise (ResultBatch.complete_before); read by snapshot (docs/ha.md, "The result feed"); daily partitions result_feed_pYYYYMMDD on `at`, dropped after storage.feed_retention';
CREATE TABLE result_feed_default PARTITION OF result_feed DEFAULT;
CREATE INDEX result_feed_xid ON result_feed (xid);
)sql"},
    {9, "cluster mode of collector replicas, lease epochs of fenced writes", R"sql(
ALTER TABLE collector_members ADD COLUMN cluster_mode boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN collector_members.cluster_mode IS
  'true when the replica runs with --cluster: only such replicas are given detection shards (docs/ha.md)';
ALTER TABLE incidents ADD COLUMN lease_epoch bigint;
ALTER TABLE incident_events ADD COLUMN lease_epoch bigint;
ALTER TABLE outbox ADD COLUMN lease_epoch bigint;
COMMENT ON COLUMN incidents.lease_epoch IS
  'the epoch of the shard lease (shard_leases) the last write of the row was fenced with; NULL from a collector not in cluster mode';
COMMENT ON COLUMN incident_events.lease_epoch IS
  'the epoch of the shard lease the row was written under (detection shard, or -1 the notification scheduler); NULL when not fenced';
COMMENT ON COLUMN outbox.lease_epoch IS
  'the epoch of the shard lease the row was queued under (detection shard, or -1 the notification scheduler); NULL when not fenced';
)sql"},
    {12, "each detection shard's current state, published by its owner", R"sql(
CREATE TABLE shard_status (
  shard        integer     PRIMARY KEY,
  owner        text        NOT NULL,
  epoch        bigint      NOT NULL,
  published_at timestamptz NOT NULL,
  status       bytea       NOT NULL
);
COMMENT ON TABLE shard_status IS
  'cluster mode: the current state of each detection shard''s checks and its open incidents (a serialized sonde.v1.StatusReply), written every 2 s by the shard''s owner under its lease (owner, epoch); every replica reads the fresh rows to answer Query.Status for all shards (docs/ha.md)';
)sql"},
};

}  // namespace

int LatestSchemaVersion() {
  return kMigrations[sizeof(kMigrations) / sizeof(kMigrations[0]) - 1].version;
}

absl::Status ApplyMigrations(PGconn* c) {
  return pg::InTransaction(c, "migration", [&]() -> absl::Status {
    RETURN_IF_ERROR(Exec(c, absl::StrCat("SELECT pg_advisory_xact_lock(", kMigrationLockKey, ")"),
                         "take the migration lock")
                        .status());
    RETURN_IF_ERROR(Exec(c,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version integer PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         "create schema_migrations")
                        .status());
    ASSIGN_OR_RETURN(PgResultPtr res,
                     Exec(c, "SELECT version FROM schema_migrations", "read schema_migrations"));
    std::set<int> applied;
    for (int i = 0; i < PQntuples(res.get()); ++i) {
      int v = 0;
      if (absl::SimpleAtoi(PQgetvalue(res.get(), i, 0), &v)) {
        applied.insert(v);
      }
    }
    RETURN_IF_ERROR(CheckSchemaNotNewer(applied.empty() ? 0 : *applied.rbegin()));
    for (const Migration& m : kMigrations) {
      if (applied.count(m.version) > 0) {
        continue;
      }
      RETURN_IF_ERROR(
          Exec(c, m.sql, absl::StrCat("migration ", m.version, " (", m.description, ")")).status());
      RETURN_IF_ERROR(ExecParams(c, "INSERT INTO schema_migrations (version) VALUES ($1::integer)",
                                 {absl::StrCat(m.version)}, "record migration")
                          .status());
      spdlog::info("applied schema migration {} ({})", m.version, m.description);
    }
    return absl::OkStatus();
  });
}

std::vector<MigrationInfo> KnownMigrations() {
  std::vector<MigrationInfo> out;
  for (const Migration& m : kMigrations) {
    out.push_back({m.version, m.description});
  }
  return out;
}

absl::Status CheckSchemaNotNewer(int applied_max) {
  if (applied_max <= LatestSchemaVersion()) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the database schema is at version ", applied_max,
      ", newer than this sonde-collector knows (", LatestSchemaVersion(),
      "): a newer collector migrated it. Run the newer sonde-collector (migrations are "
      "forward-only; going back needs the pg_dump taken before the upgrade)"));
}
}  // namespace sonde::collector
