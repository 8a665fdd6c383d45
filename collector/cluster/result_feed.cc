#include "collector/cluster/result_feed.h"

#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/cluster/shards.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace sonde::collector::cluster {
namespace {

using pg::Exec;
using pg::ExecParams;
using pg::PgResultPtr;

// The fields of a stored result that detection reads (collector/detect,
// collector/incidents), plus its identity: columns of `results`, and from
// `extra` (the whole ProbeResult as proto3 JSON) those it has no column
// for, or has only parsed (the certificate strings). Reading these instead
// of parsing every `extra` makes the read about ten times faster (the
// JSON is ~800 bytes a result). A detection rule that reads another
// ProbeResult field adds it here (tests/integration/collector/cluster/
// result_feed_test.cc compares whole results).
constexpr char kResultColumns[] =
    "r.check_id, r.service, r.kind, r.seq, (extract(epoch from r.started_at) * 1000000)::bigint,"
    " r.ok, r.failure_class, r.detail, r.dns_us, r.connect_us, r.tls_us, r.first_byte_us,"
    " r.total_us, r.target, r.resolved_address, r.http_status, r.request_index,"
    " coalesce(r.extra->>'cert_not_after', ''), coalesce(r.extra->>'cert_days_left', '0'),"
    " coalesce(r.extra->>'chain_not_after', ''), coalesce(r.extra->>'fallback_address', ''),"
    " coalesce(r.extra->>'fallback_class', ''), coalesce(r.extra->>'fallback_http_status', '0')";
constexpr int kFirstResultColumn = 4;

// Both reads return: a key that changes where a new batch starts, the
// prober, the region, the promise (microseconds, "" none), then
// kResultColumns.
//
// The feed: the rows of each followed shard ($1) visible in this snapshot
// but not in the shard's position ($2, the same order), and for each the
// results it names, found through results_check_region_started (one index
// range per check; partitions pruned by the row's started_at range). The
// lowest xmin bounds the scan of result_feed_xid (a row below its
// position's xmin is visible in it).
const std::string& FeedSql() {
  static const std::string sql = absl::StrCat(
      "SELECT f.xid::text || '/' || f.shard, f.prober_id, f.region,"
      " coalesce((extract(epoch from f.complete_before) * 1000000)::bigint::text, ''), x.*"
      " FROM unnest($1::smallint[], $2::pg_snapshot[]) AS p(shard, snap)"
      " JOIN result_feed f ON f.shard = p.shard AND NOT pg_visible_in_snapshot(f.xid, p.snap)"
      " CROSS JOIN LATERAL (SELECT ",
      kResultColumns,
      " FROM results r WHERE r.check_id = ANY (f.checks) AND r.region = f.region"
      " AND r.started_at BETWEEN f.from_time AND f.to_time AND r.prober_id = f.prober_id"
      " AND r.seq BETWEEN f.first_seq AND f.last_seq) x"
      " WHERE f.xid >= (SELECT min(pg_snapshot_xmin(s)) FROM unnest($2::pg_snapshot[]) AS s)");
  return sql;
}

// The rebuild: the results of the checks ($1) since $2.
const std::string& SinceSql() {
  static const std::string sql = absl::StrCat(
      "SELECT r.prober_id || '/' || r.region, r.prober_id, r.region, '', ", kResultColumns,
      " FROM results r WHERE r.check_id = ANY ($1::text[]) AND r.started_at >= $2::timestamptz");
  return sql;
}

int64_t Int(const PGresult* res, int row, int col) {
  int64_t v = 0;
  return absl::SimpleAtoi(PQgetvalue(res, row, col), &v) ? v : 0;
}

// "HTTP_STATUS" (or a number: a code this build does not know) -> the code.
v1::FailureClass::Code Class(const char* text) {
  v1::FailureClass::Code code = v1::FailureClass::UNSPECIFIED;
  int number = 0;
  if (!v1::FailureClass::Code_Parse(text, &code) && absl::SimpleAtoi(text, &number)) {
    code = static_cast<v1::FailureClass::Code>(number);
  }
  return code;
}

// One row's kResultColumns (from column `c`) -> `r`.
void ReadResult(const PGresult* res, int row, int c, v1::ProbeResult* r) {
  auto text = [&](int i) { return PQgetvalue(res, row, c + i); };
  r->set_check_id(text(0));
  r->set_service(text(1));
  r->set_kind(text(2));
  r->set_seq(static_cast<uint64_t>(Int(res, row, c + 3)));
  common::SetTimestamp(absl::FromUnixMicros(Int(res, row, c + 4)), r->mutable_start_time());
  r->set_ok(text(5)[0] == 't');
  r->set_failure_class(Class(text(6)));
  r->set_detail(text(7));
  r->set_dns_us(static_cast<uint32_t>(Int(res, row, c + 8)));
  r->set_connect_us(static_cast<uint32_t>(Int(res, row, c + 9)));
  r->set_tls_us(static_cast<uint32_t>(Int(res, row, c + 10)));
  r->set_first_byte_us(static_cast<uint32_t>(Int(res, row, c + 11)));
  r->set_total_us(static_cast<uint32_t>(Int(res, row, c + 12)));
  r->set_target(text(13));
  r->set_resolved_address(text(14));
  r->set_http_status(static_cast<int32_t>(Int(res, row, c + 15)));
  r->set_request_index(static_cast<uint32_t>(Int(res, row, c + 16)));
  r->set_cert_not_after(text(17));
  r->set_cert_days_left(static_cast<int32_t>(Int(res, row, c + 18)));
  r->set_chain_not_after(text(19));
  r->set_fallback_address(text(20));
  if (text(21)[0] != '\0') {
    r->set_fallback_class(Class(text(21)));
  }
  r->set_fallback_http_status(static_cast<int32_t>(Int(res, row, c + 22)));
}

// Cuts the rows of a read into batches and hands them to the sink.
class Batcher {
 public:
  Batcher(const FeedSink& sink, int max_batch, FeedReadStats* stats)
      : sink_(sink), max_batch_(max_batch), stats_(stats) {}

  absl::Status Add(const PGresult* res, int row) {
    const char* key = PQgetvalue(res, row, 0);
    if (key != key_ || batch_.results_size() >= max_batch_) {
      if (key != key_) {
        ++stats_->feed_rows;
        key_ = key;
      }
      RETURN_IF_ERROR(Flush());
      batch_.set_prober_id(PQgetvalue(res, row, 1));
      batch_.set_region(PQgetvalue(res, row, 2));
      const absl::string_view promise = PQgetvalue(res, row, 3);
      if (!promise.empty()) {
        common::SetTimestamp(pg::FromMicrosText(promise), batch_.mutable_complete_before());
      }
    }
    v1::ProbeResult* r = batch_.add_results();
    ReadResult(res, row, kFirstResultColumn, r);
    // The stream's identity, as NormalizeBatch stamped it at ingest.
    r->set_prober_id(batch_.prober_id());
    r->set_region(batch_.region());
    return absl::OkStatus();
  }

  absl::Status Flush() {
    if (batch_.results_size() == 0) {
      batch_.Clear();
      return absl::OkStatus();
    }
    stats_->results += batch_.results_size();
    v1::ResultBatch out;
    out.Swap(&batch_);
    return sink_(std::move(out));
  }

 private:
  const FeedSink& sink_;
  const int max_batch_;
  FeedReadStats* stats_;
  std::string key_;
  v1::ResultBatch batch_;
};

// Runs `sql` in one REPEATABLE READ snapshot through a cursor, `chunk` rows
// at a time, batching into `sink`; returns that snapshot.
absl::StatusOr<FeedPosition> ReadInSnapshot(PGconn* c, const std::string& sql,
                                            const std::vector<std::string>& params,
                                            const FeedSink& sink, FeedReadLimits limits,
                                            FeedReadStats* stats) {
  FeedPosition at;
  Batcher batcher(sink, limits.max_batch, stats);
  RETURN_IF_ERROR(pg::InTransaction(c, "result feed read", [&]() -> absl::Status {
    RETURN_IF_ERROR(Exec(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                         "result feed snapshot")
                        .status());
    ASSIGN_OR_RETURN(PgResultPtr snap,
                     Exec(c, "SELECT pg_current_snapshot()::text", "result feed snapshot"));
    at.snapshot = PQgetvalue(snap.get(), 0, 0);
    RETURN_IF_ERROR(ExecParams(c, absl::StrCat("DECLARE sonde_feed NO SCROLL CURSOR FOR ", sql),
                               params, "result feed cursor")
                        .status());
    const std::string fetch = absl::StrCat("FETCH ", limits.chunk, " FROM sonde_feed");
    for (;;) {
      ASSIGN_OR_RETURN(PgResultPtr rows, Exec(c, fetch, "result feed fetch"));
      const int n = PQntuples(rows.get());
      for (int i = 0; i < n; ++i) {
        RETURN_IF_ERROR(batcher.Add(rows.get(), i));
      }
      if (n < limits.chunk) {
        break;
      }
    }
    return batcher.Flush();
  }));
  return at;
}

}  // namespace

absl::StatusOr<FeedPosition> CurrentFeedPosition(PGconn* c) {
  ASSIGN_OR_RETURN(PgResultPtr snap,
                   Exec(c, "SELECT pg_current_snapshot()::text", "result feed position"));
  return FeedPosition{PQgetvalue(snap.get(), 0, 0)};
}

absl::StatusOr<FeedPosition> ReadResultsSince(PGconn* c, const std::vector<std::string>& checks,
                                              absl::Time since, const FeedSink& sink,
                                              FeedReadStats* stats, FeedReadLimits limits) {
  FeedReadStats ignored;
  return ReadInSnapshot(c, SinceSql(), {pg::ToArray(checks), pg::Timestamp(since)}, sink, limits,
                        stats != nullptr ? stats : &ignored);
}

std::vector<std::string> ChecksInShards(const v1::Config& config, const std::vector<int>& shards) {
  const std::set<int> wanted(shards.begin(), shards.end());
  std::vector<std::string> out;
  for (const v1::Check& check : config.checks()) {
    if (wanted.count(ShardOf(check)) > 0) {
      out.push_back(check.name());
    }
  }
  return out;
}

void ResultFeed::Follow(int shard, const FeedPosition& from) { positions_[shard] = from.snapshot; }

void ResultFeed::Drop(int shard) { positions_.erase(shard); }

std::vector<int> ResultFeed::shards() const {
  std::vector<int> out;
  for (const auto& [shard, position] : positions_) {
    out.push_back(shard);
  }
  return out;
}

std::string ResultFeed::position(int shard) const {
  auto it = positions_.find(shard);
  return it == positions_.end() ? "" : it->second;
}

absl::StatusOr<FeedReadStats> ResultFeed::Read(PGconn* c, const FeedSink& sink) {
  FeedReadStats stats;
  if (positions_.empty()) {
    return stats;
  }
  std::vector<std::string> shards, snapshots;
  for (const auto& [shard, position] : positions_) {
    shards.push_back(absl::StrCat(shard));
    snapshots.push_back(position);
  }
  ASSIGN_OR_RETURN(FeedPosition next,
                   ReadInSnapshot(c, FeedSql(), {pg::ToArray(shards), pg::ToArray(snapshots)}, sink,
                                  limits_, &stats));
  for (auto& [shard, position] : positions_) {
    position = next.snapshot;
  }
  return stats;
}

}  // namespace sonde::collector::cluster
