#include "collector/storage/rollup_folder.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

using pg::PgResultPtr;

// The pending batches' rows still unrolled, rows another writer holds
// skipped (it rolls them up, or rolls back and leaves them to adoption).
constexpr const char* kClaimPending =
    "UPDATE ingested_batches b SET rolled = true WHERE (b.prober_id, b.batch_seq) IN ("
    "SELECT i.prober_id, i.batch_seq FROM ingested_batches i"
    " JOIN unnest($1::text[], $2::bigint[]) AS u(p, s) ON i.prober_id = u.p AND i.batch_seq = u.s"
    " WHERE NOT i.rolled FOR UPDATE OF i SKIP LOCKED) AND NOT b.rolled"
    " RETURNING b.prober_id, b.batch_seq, b.xid";

constexpr int kOrphansPerTransaction = 200;

// Batches unrolled for longer than $1 seconds, oldest first.
const std::string& ClaimOrphans() {
  static const std::string kSql = absl::StrCat(
      "UPDATE ingested_batches b SET rolled = true WHERE (b.prober_id, b.batch_seq) IN ("
      "SELECT prober_id, batch_seq FROM ingested_batches WHERE NOT rolled"
      " AND received_at < now() - make_interval(secs => $1::float8)"
      " ORDER BY received_at LIMIT ",
      kOrphansPerTransaction,
      " FOR UPDATE SKIP LOCKED) AND NOT b.rolled RETURNING b.prober_id, b.batch_seq, b.xid");
  return kSql;
}

// The stored results of the batches whose transactions were $1 (xids), by
// their result feed rows (feed_rows.h: the same rule the shard owners read).
constexpr const char* kOrphanResults =
    "SELECT r.check_id, r.service, r.region, (extract(epoch FROM r.started_at) * 1000000)::bigint,"
    " r.ok, r.failure_class, r.dns_us, r.connect_us, r.tls_us, r.first_byte_us, r.total_us"
    " FROM result_feed f JOIN results r ON r.check_id = ANY (f.checks) AND r.region = f.region"
    " AND r.prober_id = f.prober_id AND r.started_at BETWEEN f.from_time AND f.to_time"
    " AND r.seq BETWEEN f.first_seq AND f.last_seq WHERE f.xid = ANY ($1::xid8[])";

int64_t Int(const PGresult* res, int row, int col) {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQgetvalue(res, row, col), &v);
  return v;
}

// The rollup delta of the claimed batches `claimed` (column 2: the batch
// transaction's xid) from their stored results.
absl::StatusOr<RollupDelta> ReadBack(PGconn* c, const PGresult* claimed) {
  pg::ArrayLiteral xids;
  for (int i = 0; i < PQntuples(claimed); ++i) {
    if (!PQgetisnull(claimed, i, 2)) {
      xids.Add(PQgetvalue(claimed, i, 2));
    }
  }
  RollupDelta delta;
  ASSIGN_OR_RETURN(PgResultPtr rows,
                   pg::ExecParams(c, kOrphanResults, {xids.Done()}, "read back batch results"));
  for (int i = 0; i < PQntuples(rows.get()); ++i) {
    RollupSample s;
    s.check_id = PQgetvalue(rows.get(), i, 0);
    s.service = PQgetvalue(rows.get(), i, 1);
    s.start = absl::FromUnixMicros(Int(rows.get(), i, 3));
    s.ok = PQgetvalue(rows.get(), i, 4)[0] == 't';
    s.failure_class = PQgetvalue(rows.get(), i, 5);
    s.prober_error = s.failure_class == "PROBER_ERROR";
    for (int p = 0; p < kPhaseCount; ++p) {
      s.phases_us[p] = Int(rows.get(), i, 6 + p);
    }
    delta.Add(PQgetvalue(rows.get(), i, 2), s);
  }
  return delta;
}

// One transaction: `claim` ($params) marks batches rolled and returns them;
// `fold` makes the delta of exactly those; the delta is written; COMMIT.
// Returns how many batches were claimed.
absl::StatusOr<int64_t> RollUp(
    PGconn* c, pg::PreparedStatements* prepared, const std::string& claim,
    const std::vector<std::string>& params,
    const std::function<absl::StatusOr<RollupDelta>(const PGresult* claimed)>& fold) {
  const absl::Time t0 = absl::Now();
  pg::Pipeline head(c);
  head.Add("BEGIN", {}, "begin rollups");
  head.Add(claim, params, "claim batches");
  ASSIGN_OR_RETURN(std::vector<PgResultPtr> answers, head.Finish());
  const int64_t claimed = PQntuples(answers[1].get());
  const absl::Time t1 = absl::Now();
  ASSIGN_OR_RETURN(RollupDelta delta, fold(answers[1].get()));
  const absl::Time t2 = absl::Now();
  pg::Pipeline tail(c);
  RETURN_IF_ERROR(QueueRollups(c, prepared, delta, &tail));
  const absl::Time t3 = absl::Now();
  tail.Add("COMMIT", {}, "commit rollups");
  ASSIGN_OR_RETURN(answers, tail.Finish());
  spdlog::debug(
      "rollups: {} batches claimed, {} results in {} minute cells; claim {}, fold {},"
      " minute level {}, the rest and COMMIT {}",
      claimed, delta.results(), delta.cells().size(), absl::FormatDuration(t1 - t0),
      absl::FormatDuration(t2 - t1), absl::FormatDuration(t3 - t2),
      absl::FormatDuration(absl::Now() - t3));
  if (std::strcmp(PQcmdStatus(answers.back().get()), "COMMIT") != 0) {
    return absl::InternalError(
        absl::StrCat("commit rollups: the server answered ", PQcmdStatus(answers.back().get())));
  }
  return claimed;
}

}  // namespace

absl::Duration RollupFolderOptions::WaitAfterFlush(absl::Time start, absl::Time end) const {
  // Under heavy ingest a flush takes long (its rows are the distinct
  // series, however many results they fold); flushing back to back would
  // keep a core busy with rollups that the batch transactions need.
  const absl::Duration spaced = std::min(pause_factor * (end - start), max_pause);
  return std::max({pause, spaced, start + interval - end});
}

RollupFolder::RollupFolder(std::string conninfo, RollupFolderOptions options)
    : conninfo_(std::move(conninfo)), options_(options) {}

RollupFolder::~RollupFolder() { Stop(); }

void RollupFolder::Add(const std::string& prober_id, const v1::ResultBatch& batch) {
  absl::MutexLock lock(&mu_);
  pending_.push_back({prober_id, static_cast<int64_t>(batch.batch_seq())});
  for (const v1::ProbeResult& r : batch.results()) {
    pending_delta_.Add(batch.region(), r);
  }
}

int64_t RollupFolder::pending_batches() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(pending_.size());
}

absl::Status RollupFolder::Connect() {
  if (conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK) {
    return absl::OkStatus();
  }
  conn_.reset();
  prepared_ = pg::PreparedStatements();
  ASSIGN_OR_RETURN(conn_, pg::Connect(conninfo_, "sonde-collector rollups"));
  return absl::OkStatus();
}

absl::Status RollupFolder::Flush() {
  std::vector<BatchId> taken;
  RollupDelta delta;
  {
    absl::MutexLock lock(&mu_);
    taken.swap(pending_);
    std::swap(delta, pending_delta_);
    // The next flush's cells are mostly these again: room for them now
    // instead of rehashing while handler threads wait on `mu_`.
    pending_delta_.Reserve(delta.cells().size());
  }
  if (taken.empty()) {
    return absl::OkStatus();
  }
  // Claimed in key order: concurrent folders lock batch rows alike.
  std::sort(taken.begin(), taken.end(), [](const BatchId& a, const BatchId& b) {
    return std::tie(a.prober_id, a.batch_seq) < std::tie(b.prober_id, b.batch_seq);
  });
  pg::ArrayLiteral probers, seqs;
  for (const BatchId& b : taken) {
    probers.Add(b.prober_id);
    seqs.Add(absl::StrCat(b.batch_seq));
  }
  absl::StatusOr<int64_t> claimed;
  bool consumed = false;  // `delta` moved into the transaction
  {
    absl::MutexLock lock(&conn_mu_);
    absl::Status st = Connect();
    PGconn* c = conn_.get();
    auto fold = [&](const PGresult* rows) -> absl::StatusOr<RollupDelta> {
      if (static_cast<size_t>(PQntuples(rows)) == taken.size()) {
        consumed = true;
        return std::move(delta);
      }
      // Another replica adopted some of them: exactly the claimed ones,
      // from what is stored.
      return ReadBack(c, rows);
    };
    claimed =
        st.ok() ? RollUp(c, &prepared_, kClaimPending, {probers.Done(), seqs.Done()}, fold) : st;
    if (!claimed.ok() && conn_ != nullptr) {
      pg::RollbackQuietly(conn_.get());
    }
  }
  if (!claimed.ok() && consumed) {
    // The transaction rolled back with the delta: the batches stay
    // unrolled in PostgreSQL and are adopted from their stored results.
    return claimed.status();
  }
  if (!claimed.ok()) {
    // Pending again, for the next flush.
    absl::MutexLock lock(&mu_);
    for (BatchId& b : taken) {
      pending_.push_back(std::move(b));
    }
    pending_delta_.Merge(delta);
    return claimed.status();
  }
  batches_rolled_.fetch_add(*claimed, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RollupFolder::AdoptOrphans(absl::Duration older_than) {
  absl::MutexLock lock(&conn_mu_);
  RETURN_IF_ERROR(Connect());
  PGconn* c = conn_.get();
  auto fold = [c](const PGresult* claimed) { return ReadBack(c, claimed); };
  int64_t total = 0;
  for (;;) {
    absl::StatusOr<int64_t> claimed = RollUp(
        c, &prepared_, ClaimOrphans(), {absl::StrCat(absl::ToDoubleSeconds(older_than))}, fold);
    if (!claimed.ok()) {
      pg::RollbackQuietly(c);
      return claimed.status();
    }
    total += *claimed;
    if (*claimed < kOrphansPerTransaction) {
      break;
    }
  }
  if (total > 0) {
    spdlog::warn("rolled up {} batches another collector (or an earlier run) left unrolled", total);
    orphans_adopted_.fetch_add(total, std::memory_order_relaxed);
    batches_rolled_.fetch_add(total, std::memory_order_relaxed);
  }
  return total;
}

absl::Duration RollupFolder::Pass(absl::Time* next_scan) {
  const absl::Time start = absl::Now();
  if (absl::Status st = Flush(); !st.ok()) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("rollup flush failed (retried next interval): {}", std::string(st.message()));
  }
  if (start >= *next_scan) {
    if (absl::StatusOr<int64_t> n = AdoptOrphans(options_.orphan_age); !n.ok()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("adopting unrolled batches failed (retried): {}",
                   std::string(n.status().message()));
    }
    *next_scan = start + options_.orphan_scan;
  }
  return options_.WaitAfterFlush(start, absl::Now());
}

void RollupFolder::AppendMetrics(common::MetricsText* m) const {
  m->Add("sonde_rollup_pending_batches", "gauge",
         "Stored batches whose rollups this replica has not yet written.", pending_batches());
  m->Add("sonde_rollup_batches_total", "counter",
         "Batches whose rollups this replica wrote (its own and adopted ones).",
         batches_rolled_.load(std::memory_order_relaxed));
  m->Add("sonde_rollup_adopted_batches_total", "counter",
         "Batches another replica (or an earlier run) left unrolled, rolled up from their "
         "stored results.",
         orphans_adopted_.load(std::memory_order_relaxed));
  m->Add("sonde_rollup_failures_total", "counter",
         "Rollup writes and adoptions that failed (retried).",
         failures_.load(std::memory_order_relaxed));
}

void RollupFolder::Start() {
  loop_.Start([this, next_scan = absl::Now()]() mutable { return Pass(&next_scan); });
}

void RollupFolder::Stop() {
  if (!loop_.running()) {
    return;
  }
  loop_.Stop();
  if (absl::Status st = Flush(); !st.ok()) {
    spdlog::warn("last rollup flush failed ({} batches left to adoption): {}", pending_batches(),
                 std::string(st.message()));
  }
}

}  // namespace sonde::collector
