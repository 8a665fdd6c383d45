#include "collector/storage/retention.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/partitions.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

using pg::Exec;
using pg::ExecParams;
using pg::PgResultPtr;

constexpr char kLockTimeout[] = "200ms";
constexpr int kChunk = 10000;

absl::Duration KeepFor(const PartitionedTable& t, const common::StorageSettings& s) {
  const std::string name = t.table;
  if (name == "results") {
    return s.raw;
  }
  if (name == "result_feed") {
    return s.feed;
  }
  if (absl::StartsWith(name, "rollup_minute")) {
    return s.minute;
  }
  if (absl::StartsWith(name, "rollup_hour")) {
    return s.hour;
  }
  return s.day;
}

}  // namespace

void Retention::SetSettings(const common::StorageSettings& s) {
  absl::MutexLock lock(&mu_);
  settings_ = s;
}

bool Retention::LockTimedOut(const absl::Status& st) {
  if (absl::StrContains(st.message(), "SQLSTATE 55P03")) {
    counters_.failures.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

absl::Status Retention::Connect() {
  if (conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(conn_, pg::Connect(conninfo_, "sonde-collector-retention"));
  return Exec(conn_.get(), absl::StrCat("SET lock_timeout = '", kLockTimeout, "'"),
              "set lock_timeout")
      .status();
}

absl::Status Retention::DropPartitions(absl::Time now, const common::StorageSettings& s) {
  PGconn* c = conn_.get();
  for (const PartitionedTable& t : PartitionedTables()) {
    const absl::Duration keep = KeepFor(t, s);
    const absl::Time cutoff = now - keep;
    ASSIGN_OR_RETURN(PgResultPtr parts,
                     ExecParams(c,
                                "SELECT c.relname FROM pg_inherits i JOIN pg_class c"
                                " ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass"
                                " ORDER BY c.relname",
                                {t.table}, "list partitions"));
    for (int i = 0; i < PQntuples(parts.get()); ++i) {
      const std::string name = PQgetvalue(parts.get(), i, 0);
      std::optional<absl::Time> start = ParsePartitionName(t, name);
      if (!start.has_value() || NextPartitionStart(t.span, *start) > cutoff) {
        continue;
      }
      absl::Status st = Exec(c, absl::StrCat("ALTER TABLE ", t.table, " DETACH PARTITION ", name),
                             absl::StrCat("detach ", name))
                            .status();
      if (st.ok()) {
        st = Exec(c, absl::StrCat("DROP TABLE ", name), absl::StrCat("drop ", name)).status();
      }
      if (LockTimedOut(st)) {
        spdlog::info("retention: {} busy, retrying next pass", name);
        continue;
      }
      RETURN_IF_ERROR(st);
      counters_.partitions_dropped.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("retention: dropped partition {} (older than {})", name,
                   absl::FormatDuration(keep));
    }
    RETURN_IF_ERROR(Prune(
        absl::StrCat(t.table, "_default"),
        absl::StrCat("DELETE FROM ", t.table, "_default WHERE ctid IN (SELECT ctid FROM ", t.table,
                     "_default WHERE ", t.column, " < $1::timestamptz LIMIT ", kChunk, ")"),
        cutoff));
  }
  return absl::OkStatus();
}

absl::Status Retention::Prune(const std::string& what, const std::string& sql, absl::Time cutoff) {
  for (int round = 0; round < 1000; ++round) {  // bounded: 10 M rows a pass
    absl::StatusOr<PgResultPtr> res =
        ExecParams(conn_.get(), sql, {PgTime(cutoff)}, absl::StrCat("prune ", what));
    if (!res.ok()) {
      if (LockTimedOut(res.status())) {
        return absl::OkStatus();
      }
      return res.status();
    }
    const int64_t n = std::atoll(PQcmdTuples(res->get()));
    counters_.rows_pruned.fetch_add(n, std::memory_order_relaxed);
    if (n < kChunk) {
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status Retention::RunOnce(absl::Time now) {
  common::StorageSettings s;
  {
    absl::MutexLock lock(&mu_);
    s = settings_;
  }
  absl::Status st = [&]() -> absl::Status {
    RETURN_IF_ERROR(Connect());
    RETURN_IF_ERROR(DropPartitions(now, s));
    RETURN_IF_ERROR(Prune("ingested_batches",
                          "DELETE FROM ingested_batches WHERE (prober_id, batch_seq) IN"
                          " (SELECT prober_id, batch_seq FROM ingested_batches"
                          " WHERE received_at < $1::timestamptz LIMIT 10000)",
                          now - s.batches));
    RETURN_IF_ERROR(Prune("outbox",
                          "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
                          " WHERE delivered_at < $1::timestamptz LIMIT 10000)",
                          now - s.outbox));
    return Prune("incident_events",
                 "DELETE FROM incident_events WHERE id IN (SELECT e.id FROM incident_events e"
                 " JOIN incidents i ON i.id = e.incident_id"
                 " WHERE i.resolved_at < $1::timestamptz LIMIT 10000)",
                 now - s.timeline);
  }();
  counters_.passes.fetch_add(1, std::memory_order_relaxed);
  if (!st.ok()) {
    counters_.failures.fetch_add(1, std::memory_order_relaxed);
    if (absl::IsUnavailable(st)) {
      conn_.reset();  // reconnect next pass
    }
  }
  return st;
}

void Retention::Start() {
  loop_.Start([this] {
    if (absl::Status st = RunOnce(absl::Now()); !st.ok()) {
      spdlog::warn("retention pass failed (retried next pass): {}", std::string(st.message()));
    }
    absl::MutexLock lock(&mu_);
    return settings_.interval;
  });
}

void Retention::Stop() { loop_.Stop(); }

void Retention::AppendMetrics(common::MetricsText* m) const {
  m->Add("sonde_retention_passes_total", "counter", "Retention passes run.",
         counters_.passes.load(std::memory_order_relaxed));
  m->Add("sonde_retention_partitions_dropped_total", "counter",
         "Partitions dropped by retention (results and rollups).",
         counters_.partitions_dropped.load(std::memory_order_relaxed));
  m->Add("sonde_retention_rows_pruned_total", "counter",
         "Rows deleted by retention (default partitions, ingested_batches, outbox, timelines).",
         counters_.rows_pruned.load(std::memory_order_relaxed));
  m->Add("sonde_retention_failures_total", "counter",
         "Retention steps that failed or found a lock busy (retried next pass).",
         counters_.failures.load(std::memory_order_relaxed));
}

}  // namespace sonde::collector
