#include "collector/storage/store.h"

#include <poll.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/copy_rows.h"
#include "collector/storage/feed_rows.h"
#include "collector/storage/migrations.h"
#include "collector/storage/rollup_folder.h"
#include "collector/storage/rollups.h"
#include "collector/storage/utf8.h"
#include "common/status_macros.h"
#include "common/unique_handle.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

using pg::Exec;
using pg::ExecParams;
using pg::OneLine;
using pg::PgResultPtr;

}  // namespace

absl::Status Store::ValidateConnInfo(const std::string& conninfo) {
  return pg::ValidateConnInfo(conninfo);
}

std::string Store::DescribeConnInfo(const std::string& conninfo) {
  return pg::DescribeConnInfo(conninfo);
}

absl::StatusOr<std::unique_ptr<Store>> Store::Connect(const std::string& conninfo,
                                                      StoreOptions options) {
  ASSIGN_OR_RETURN(PgConnPtr conn, pg::Connect(conninfo, "sonde-collector"));
  return std::unique_ptr<Store>(new Store(std::move(conn), options));
}

Store::Store(PgConnPtr conn, StoreOptions options)
    : conn_(std::move(conn)),
      partitions_(options.partition_past_days, options.partition_future_days),
      rollup_folder_(options.rollup_folder) {
  PQsetNoticeReceiver(conn_.get(), &Store::OnNotice, this);
}

void Store::OnNotice(void* arg, const PGresult* notice) {
  // Server notices ("relation already exists, skipping") are not news. A
  // FATAL one arrives while the connection is idle when the server ends the
  // session (shutdown, pg_terminate_backend): the connection is done.
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity != nullptr &&
      (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0)) {
    static_cast<Store*>(arg)->server_ended_session_ = true;
  }
  spdlog::debug("PostgreSQL: {}", OneLine(PQresultErrorMessage(notice)));
}

Store::~Store() = default;

bool Store::healthy() const {
  return PQstatus(conn_.get()) == CONNECTION_OK && !server_ended_session_;
}

bool Store::CheckIdleConnection() {
  // A server that ends the session sends a FATAL error, then closes the
  // socket. Read what is waiting (bounded) and let libpq parse it: the
  // error reaches OnNotice, an EOF marks the connection bad.
  for (int i = 0; i < 4 && healthy(); ++i) {
    pollfd p{PQsocket(conn_.get()), POLLIN, 0};
    if (poll(&p, 1, /*timeout_ms=*/0) <= 0) {
      break;  // nothing waiting: the connection looks fine
    }
    if (PQconsumeInput(conn_.get()) == 0) {
      return false;
    }
    while (PGnotify* n = PQnotifies(conn_.get())) {
      PQfreemem(n);
    }
  }
  return healthy();
}

bool Store::idle() const { return PQtransactionStatus(conn_.get()) == PQTRANS_IDLE; }

int Store::backend_pid() const { return PQbackendPID(conn_.get()); }

int Store::LatestSchemaVersion() { return collector::LatestSchemaVersion(); }

absl::Status Store::Execute(const std::string& sql) {
  return Exec(conn_.get(), sql, "execute").status();
}

absl::StatusOr<std::vector<std::string>> Store::QueryColumn(const std::string& sql) {
  ASSIGN_OR_RETURN(PgResultPtr res, Exec(conn_.get(), sql, "query"));
  std::vector<std::string> out;
  if (PQnfields(res.get()) < 1) {
    return out;
  }
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    out.push_back(PQgetisnull(res.get(), i, 0) ? "<null>" : PQgetvalue(res.get(), i, 0));
  }
  return out;
}

absl::Status Store::Migrate() {
  RETURN_IF_ERROR(ApplyMigrations(conn_.get()));
  // Partitions for the coming days, so the first batches find them.
  int64_t today = DayOf(absl::Now());
  std::set<int64_t> days;
  for (int64_t d = today - 1; d <= today + partitions_.future_days(); ++d) {
    days.insert(d);
  }
  RETURN_IF_ERROR(partitions_.Ensure(conn_.get(), days));
  return Partitions::SetFillFactors(conn_.get());
}

absl::StatusOr<bool> Store::InsertBatch(const v1::ResultBatch& batch) {
  if (!healthy()) {
    return absl::UnavailableError("PostgreSQL connection lost earlier; reconnect");
  }
  std::set<int64_t> days;
  for (const v1::ProbeResult& r : batch.results()) {
    days.insert(DayOf(StartTime(r)));
  }
  RETURN_IF_ERROR(partitions_.Ensure(conn_.get(), days));

  bool duplicate = false;
  absl::Status st = InsertBatchInTransaction(batch, &duplicate);
  if (!st.ok()) {
    pg::RollbackQuietly(conn_.get());
    return st;
  }
  return duplicate;
}

// Four round trips per batch with a rollup folder: (1) BEGIN and the dedup
// row (and gaps) in one pipeline, (2) COPY start and (3) its rows and end,
// (4) COMMIT; the result feed's rows ride in the dedup statement. Without a
// folder, (4) is the minute rollup upsert, whose answer names the minutes it
// created (rollups.h), and (5) the other rollup upserts and COMMIT in one
// pipeline. A duplicate stops after (1) with a ROLLBACK.
absl::Status Store::InsertBatchInTransaction(const v1::ResultBatch& batch, bool* duplicate) {
  std::string prober_id = SanitizeUtf8(batch.prober_id());
  {
    pg::Pipeline head(conn_.get());
    head.Add("BEGIN", {}, "begin batch");
    // The dedup row and, when it is new, the batch's result feed rows
    // (feed_rows.h) in one statement.
    static const std::string kRecordBatch = absl::StrCat(
        "WITH batch AS (INSERT INTO ingested_batches (prober_id, batch_seq, results, rolled)"
        " VALUES ($1::text, $2::bigint, $3::integer, $13::boolean)"
        " ON CONFLICT (prober_id, batch_seq) DO NOTHING RETURNING 1), ",
        FeedRowsCte(/*prober=*/1, /*region=*/4, /*first=*/5), " SELECT 1 FROM batch");
    std::vector<std::string> params = {
        prober_id, absl::StrCat(static_cast<int64_t>(batch.batch_seq())),
        absl::StrCat(batch.results_size()), SanitizeUtf8(batch.region())};
    for (std::string& p : FeedRowParams(batch)) {
      params.push_back(std::move(p));
    }
    // Rolled up already when there is nothing to add, or when this
    // transaction writes the rollups itself.
    params.push_back(rollup_folder_ == nullptr || batch.results_size() == 0 ? "true" : "false");
    head.Add(kRecordBatch, std::move(params), "record batch");
    for (const v1::Gap& gap : batch.gaps()) {
      head.Add(
          "INSERT INTO gaps (prober_id, region, first_batch_seq,"
          " last_batch_seq, results, from_time, to_time)"
          " VALUES ($1::text, $2::text, $3::bigint, $4::bigint,"
          " $5::bigint, to_timestamp($6::bigint),"
          " to_timestamp($7::bigint))"
          " ON CONFLICT (prober_id, first_batch_seq) DO NOTHING",
          {prober_id, SanitizeUtf8(batch.region()),
           absl::StrCat(static_cast<int64_t>(gap.first_batch_seq())),
           absl::StrCat(static_cast<int64_t>(gap.last_batch_seq())),
           absl::StrCat(static_cast<int64_t>(gap.results())), absl::StrCat(gap.from().seconds()),
           absl::StrCat(gap.to().seconds())},
          "record gap");
    }
    ASSIGN_OR_RETURN(std::vector<PgResultPtr> answers, head.Finish());
    if (PQntuples(answers[1].get()) == 0) {
      *duplicate = true;  // the gaps rows go with the rollback
      return Exec(conn_.get(), "ROLLBACK", "roll back duplicate batch").status();
    }
  }
  for (const v1::Gap& gap : batch.gaps()) {
    spdlog::warn("prober {} ({}) reports {} results lost (spool full)", prober_id, batch.region(),
                 gap.results());
  }
  // Almost every batch is clean already: store it as it is. Only a batch
  // with a bad string pays for a sanitized copy.
  bool clean = IsCleanUtf8(batch.prober_id()) && IsCleanUtf8(batch.region());
  for (int i = 0; clean && i < batch.results_size(); ++i) {
    clean = ResultIsClean(batch.results(i));
  }
  v1::ResultBatch sanitized;
  if (!clean) {
    sanitized.set_prober_id(prober_id);
    sanitized.set_region(SanitizeUtf8(batch.region()));
    sanitized.set_batch_seq(batch.batch_seq());
    *sanitized.mutable_results() = batch.results();
    for (v1::ProbeResult& r : *sanitized.mutable_results()) {
      SanitizeMessage(&r);
    }
  }
  const v1::ResultBatch& stored = clean ? batch : sanitized;
  pg::Pipeline tail(conn_.get());
  if (stored.results_size() > 0) {
    RETURN_IF_ERROR(CopyResults(conn_.get(), stored));
    if (rollup_folder_ == nullptr) {
      RollupDelta delta;
      for (const v1::ProbeResult& r : stored.results()) {
        delta.Add(stored.region(), r);
      }
      RETURN_IF_ERROR(QueueRollups(conn_.get(), &prepared_, delta, &tail));
    }
  }
  tail.Add("COMMIT", {}, "commit batch");
  ASSIGN_OR_RETURN(std::vector<PgResultPtr> answers, tail.Finish());
  // COMMIT of a transaction that failed earlier reports ROLLBACK, not an error.
  PGresult* commit = answers.back().get();
  if (std::strcmp(PQcmdStatus(commit), "COMMIT") != 0) {
    return absl::InternalError(
        absl::StrCat("commit batch: the server answered ", PQcmdStatus(commit)));
  }
  if (rollup_folder_ != nullptr && stored.results_size() > 0) {
    rollup_folder_->Add(prober_id, stored);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ServiceRegionHealth>> Store::RecentHealth(absl::Time since) {
  return QueryRecentHealth(conn_.get(), since);
}

}  // namespace sonde::collector
