#include "collector/api/shard_status_board.h"

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/api/current_status.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

using pg::ExecParams;
using pg::PgResultPtr;

// Written only while the shard's lease is this replica's, under the epoch
// the detector holds it with, and live by the database clock: an owner
// that lost its shard (paused, cut off) publishes nothing.
constexpr char kPublish[] =
    "INSERT INTO shard_status (shard, owner, epoch, published_at, status)"
    " SELECT shard, owner, epoch, clock_timestamp(), decode($4, 'base64') FROM shard_leases"
    " WHERE shard = $1::integer AND owner = $2 AND epoch = $3::bigint"
    " AND expires_at > clock_timestamp()"
    " ON CONFLICT (shard) DO UPDATE SET owner = EXCLUDED.owner, epoch = EXCLUDED.epoch,"
    " published_at = EXCLUDED.published_at, status = EXCLUDED.status";

}  // namespace

ShardStatusBoard::ShardStatusBoard(std::string conninfo, const DetectionRunner* detection,
                                   const common::Clock* clock, absl::Duration every)
    : conninfo_(std::move(conninfo)), detection_(detection), clock_(clock), every_(every) {}

ShardStatusBoard::~ShardStatusBoard() { Stop(); }

void ShardStatusBoard::Start() {
  loop_.Start([this, failing = false]() mutable {
    absl::Status st = RefreshOnce();
    if (!st.ok() && !failing) {
      spdlog::warn("shard status (Query.Status across shards) failed; retried every {}: {}",
                   absl::FormatDuration(every_), std::string(st.message()));
    }
    failing = !st.ok();
    return every_;
  });
}

void ShardStatusBoard::Stop() { loop_.Stop(); }

absl::Status ShardStatusBoard::RefreshOnce() {
  if (conn_ == nullptr || PQstatus(conn_.get()) != CONNECTION_OK) {
    absl::StatusOr<pg::PgConnPtr> c = pg::Connect(conninfo_, "sonde-collector-shard-status");
    if (!c.ok()) {
      failures_++;
      return c.status();
    }
    conn_ = *std::move(c);
  }
  absl::Status published = Publish(conn_.get());
  absl::StatusOr<Rows> rows = ReadShardStatus(conn_.get(), kShardStatusFresh);
  if (!published.ok() || !rows.ok()) {
    failures_++;
  }
  if (rows.ok()) {
    absl::MutexLock l(&mu_);
    rows_ = std::make_shared<const Rows>(*std::move(rows));
    read_at_ = clock_->Now();
  }
  return !published.ok() ? published : rows.status();
}

absl::Status ShardStatusBoard::Publish(PGconn* conn) {
  const absl::Time now = clock_->Now();
  for (const DetectionRunner::ShardSnapshot& s : detection_->OwnedShardSnapshots()) {
    ASSIGN_OR_RETURN(bool written,
                     PublishShardStatus(conn, s.fence, BuildStatusReply(s.snapshot, now)));
    if (written) {
      published_++;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> PublishShardStatus(PGconn* conn, const cluster::LeaseFence& fence,
                                        const v1::StatusReply& status) {
  ASSIGN_OR_RETURN(PgResultPtr res,
                   ExecParams(conn, kPublish,
                              {absl::StrCat(fence.shard), fence.owner, absl::StrCat(fence.epoch),
                               absl::Base64Escape(status.SerializeAsString())},
                              "publish shard status"));
  return std::string(PQcmdTuples(res.get())) == "1";
}

absl::StatusOr<std::map<int, v1::StatusReply>> ReadShardStatus(PGconn* conn, absl::Duration fresh) {
  ASSIGN_OR_RETURN(
      PgResultPtr res,
      ExecParams(conn,
                 "SELECT shard, translate(encode(status, 'base64'), E'\\n', '') FROM shard_status"
                 " WHERE published_at > clock_timestamp() - $1::bigint * interval '1 millisecond'",
                 {absl::StrCat(absl::ToInt64Milliseconds(fresh))}, "read shard status"));
  std::map<int, v1::StatusReply> out;
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    int shard = 0;
    std::string bytes;
    v1::StatusReply reply;
    if (!absl::SimpleAtoi(PQgetvalue(res.get(), i, 0), &shard) ||
        !absl::Base64Unescape(PQgetvalue(res.get(), i, 1), &bytes) ||
        !reply.ParseFromString(bytes)) {
      return absl::InternalError("read shard status: a row does not parse");
    }
    out[shard] = std::move(reply);
  }
  return out;
}

v1::StatusReply ShardStatusBoard::Status(const v1::StatusRequest& request, const v1::Config& config,
                                         absl::Time now) const {
  std::shared_ptr<const Rows> read;
  {
    absl::MutexLock l(&mu_);
    if (now - read_at_ <= kShardStatusFresh) {
      read = rows_;
    }
  }
  std::map<int, const v1::StatusReply*> shards;
  if (read != nullptr) {
    for (const auto& [shard, reply] : *read) {
      shards[shard] = &reply;
    }
  }
  // This replica's own shards from its detector: fresher than its rows.
  Rows own;
  for (const DetectionRunner::ShardSnapshot& s : detection_->OwnedShardSnapshots()) {
    shards[s.fence.shard] = &(own[s.fence.shard] = BuildStatusReply(s.snapshot, now));
  }
  return MergeShardStatus(shards, config, request, now);
}

void ShardStatusBoard::AppendMetrics(common::MetricsText* m) const {
  m->Add("sonde_cluster_shard_status_published_total", "counter",
         "Owned shards' current state written to shard_status for the other replicas' "
         "Query.Status (docs/ha.md).",
         published_.load(std::memory_order_relaxed));
  m->Add("sonde_cluster_shard_status_failures_total", "counter",
         "Shard status passes (publish or read) that failed (PostgreSQL away); retried every 2 s.",
         failures_.load(std::memory_order_relaxed));
}

}  // namespace sonde::collector
