#include "collector/cluster/shard_leases.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace sonde::collector::cluster {
namespace {

using pg::ExecParams;
using pg::PgResultPtr;

std::string Interval(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Microseconds(d), " microseconds");
}

// RETURNING/SELECT list of a lease row.
std::string Columns() {
  return absl::StrCat("shard, owner, epoch, ", pg::MicrosOf("expires_at"), ", ",
                      pg::MicrosOf("recorded_until"));
}

// The one row of `res` as a lease; nullopt for none.
absl::StatusOr<std::optional<ShardLease>> RowOf(const PGresult* res) {
  if (PQntuples(res) == 0) {
    return std::nullopt;
  }
  ShardLease l;
  if (!absl::SimpleAtoi(PQgetvalue(res, 0, 0), &l.shard) ||
      !absl::SimpleAtoi(PQgetvalue(res, 0, 2), &l.epoch)) {
    return absl::InternalError("shard_leases: unexpected number format");
  }
  l.owner = PQgetvalue(res, 0, 1);
  l.expires_at = pg::FromMicrosText(PQgetvalue(res, 0, 3));
  if (!PQgetisnull(res, 0, 4)) {
    l.recorded_until = pg::FromMicrosText(PQgetvalue(res, 0, 4));
  }
  return l;
}

}  // namespace

absl::StatusOr<std::optional<ShardLease>> ShardLeases::Acquire(PGconn* c, int shard,
                                                               const std::string& owner) const {
  ASSIGN_OR_RETURN(
      PgResultPtr res,
      ExecParams(
          c,
          absl::StrCat("INSERT INTO shard_leases AS l (shard, owner, epoch, expires_at)"
                       " VALUES ($1, $2, 1, clock_timestamp() + $3::interval)"
                       " ON CONFLICT (shard) DO UPDATE SET owner = EXCLUDED.owner,"
                       " epoch = CASE WHEN l.owner = EXCLUDED.owner"
                       " AND l.expires_at > clock_timestamp() THEN l.epoch ELSE l.epoch + 1 END,"
                       " expires_at = EXCLUDED.expires_at"
                       " WHERE l.owner = EXCLUDED.owner OR l.expires_at <= clock_timestamp()"
                       " RETURNING ",
                       Columns()),
          {absl::StrCat(shard), owner, Interval(ttl_)}, "acquire a shard lease"));
  return RowOf(res.get());
}

absl::StatusOr<std::optional<ShardLease>> ShardLeases::Renew(PGconn* c, int shard,
                                                             const std::string& owner,
                                                             int64_t epoch) const {
  ASSIGN_OR_RETURN(
      PgResultPtr res,
      ExecParams(c,
                 absl::StrCat("UPDATE shard_leases SET expires_at = clock_timestamp() + "
                              "$4::interval WHERE shard = $1 AND owner = $2 AND epoch = $3"
                              " AND expires_at > clock_timestamp() RETURNING ",
                              Columns()),
                 {absl::StrCat(shard), owner, absl::StrCat(epoch), Interval(ttl_)},
                 "renew a shard lease"));
  return RowOf(res.get());
}

absl::StatusOr<bool> ShardLeases::Release(PGconn* c, int shard, const std::string& owner,
                                          int64_t epoch) const {
  ASSIGN_OR_RETURN(
      PgResultPtr res,
      ExecParams(c,
                 "UPDATE shard_leases SET expires_at = clock_timestamp()"
                 " WHERE shard = $1 AND owner = $2 AND epoch = $3"
                 " AND expires_at > clock_timestamp()",
                 {absl::StrCat(shard), owner, absl::StrCat(epoch)}, "release a shard lease"));
  return std::string(PQcmdTuples(res.get())) == "1";
}

absl::Status ShardLeases::Fence(PGconn* c, int shard, const std::string& owner,
                                int64_t epoch) const {
  // For this transaction only: a writer that stalls inside it (SIGSTOP, a
  // frozen VM) is ended by PostgreSQL, which rolls it back and lets go of
  // the row, so the takeover waits a third of the TTL at most.
  RETURN_IF_ERROR(
      ExecParams(c, "SELECT set_config('idle_in_transaction_session_timeout', $1, true)",
                 {absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl_ / 3)))},
                 "bound a stalled fenced transaction")
          .status());
  ASSIGN_OR_RETURN(
      PgResultPtr res,
      ExecParams(c,
                 "SELECT 1 FROM shard_leases WHERE shard = $1 AND owner = $2"
                 " AND epoch = $3 AND expires_at > clock_timestamp() FOR SHARE",
                 {absl::StrCat(shard), owner, absl::StrCat(epoch)}, "check the shard lease"));
  if (PQntuples(res.get()) != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("fenced: ", owner, " does not hold shard ", shard, " under epoch ", epoch));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ShardLease>> ShardLeases::Read(PGconn* c, int shard) const {
  ASSIGN_OR_RETURN(
      PgResultPtr res,
      ExecParams(c, absl::StrCat("SELECT ", Columns(), " FROM shard_leases WHERE shard = $1"),
                 {absl::StrCat(shard)}, "read a shard lease"));
  return RowOf(res.get());
}

absl::Status ShardLeases::MarkRecorded(PGconn* c, const std::string& owner,
                                       const std::vector<RecordedMark>& marks,
                                       Locked locked) const {
  std::vector<std::string> shards;
  std::vector<std::string> epochs;
  std::vector<std::string> untils;
  for (const RecordedMark& m : marks) {
    if (m.until == absl::InfinitePast() || m.until == absl::InfiniteFuture()) {
      continue;  // nothing known
    }
    shards.push_back(absl::StrCat(m.shard));
    epochs.push_back(absl::StrCat(m.epoch));
    untils.push_back(pg::Timestamp(m.until));
  }
  if (shards.empty()) {
    return absl::OkStatus();
  }
  // GREATEST ignores a NULL (unknown) recorded_until.
  const char* free_rows =
      locked == Locked::kSkip
          ? " AND l.shard IN (SELECT shard FROM shard_leases WHERE shard = ANY($2::integer[])"
            " FOR NO KEY UPDATE SKIP LOCKED)"
          : "";
  return ExecParams(c,
                    absl::StrCat("UPDATE shard_leases l SET recorded_until ="
                                 " GREATEST(l.recorded_until, m.until)"
                                 " FROM unnest($2::integer[], $3::bigint[], $4::timestamptz[])"
                                 " AS m (shard, epoch, until)"
                                 " WHERE l.shard = m.shard AND l.owner = $1 AND l.epoch = m.epoch"
                                 " AND l.expires_at > clock_timestamp()",
                                 free_rows),
                    {owner, pg::ToArray(shards), pg::ToArray(epochs), pg::ToArray(untils)},
                    "mark how far a shard is recorded")
      .status();
}

}  // namespace sonde::collector::cluster
