#include "collector/storage/partitions.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/pg/pg.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

using pg::Exec;
using pg::ExecParams;
using pg::PgResultPtr;

// Advisory lock key ("sonde" + a small number); any stable constant does.
constexpr int64_t kPartitionLockKey = 0x736f6e6465000002;

// Creates the day's partition unless it exists. Rows of that day that went
// to results_default earlier (when the day was outside the window) move into
// it, otherwise ATTACH would refuse. Serialized by an advisory lock, so
// concurrent collectors cannot race on the same name.
absl::Status CreatePartition(PGconn* c, int64_t day) {
  const std::string name = PartitionName(day);
  const std::string lo = PgTime(DayStart(day));
  const std::string hi = PgTime(DayStart(day + 1));
  const std::string what = absl::StrCat("create partition ", name);
  bool created = false;
  RETURN_IF_ERROR(pg::InTransaction(c, what, [&]() -> absl::Status {
    RETURN_IF_ERROR(
        Exec(c, absl::StrCat("SELECT pg_advisory_xact_lock(", kPartitionLockKey, ")"), what)
            .status());
    ASSIGN_OR_RETURN(PgResultPtr exists,
                     ExecParams(c, "SELECT to_regclass($1::text) IS NOT NULL", {name}, what));
    if (std::strcmp(PQgetvalue(exists.get(), 0, 0), "t") == 0) {
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(
        Exec(c,
             absl::StrCat("CREATE TABLE ", name,
                          " (LIKE results INCLUDING DEFAULTS INCLUDING CONSTRAINTS);"
                          "WITH moved AS (DELETE FROM results_default WHERE started_at "
                          ">= '",
                          lo, "' AND started_at < '", hi, "' RETURNING *) INSERT INTO ", name,
                          " SELECT * FROM moved;"
                          "ALTER TABLE results ATTACH PARTITION ",
                          name, " FOR VALUES FROM ('", lo, "') TO ('", hi, "')"),
             what)
            .status());
    created = true;
    return absl::OkStatus();
  }));
  if (created) {
    spdlog::info("created partition {} [{}, {})", name, lo, hi);
  }
  return absl::OkStatus();
}

}  // namespace

std::string PartitionName(int64_t day) {
  return absl::StrCat("results_p", absl::FormatTime("%Y%m%d", DayStart(day), absl::UTCTimeZone()));
}

absl::Status Partitions::Ensure(PGconn* c, const std::set<int64_t>& days) {
  int64_t today = DayOf(absl::Now());
  for (int64_t day : days) {
    if (known_.count(day) > 0) {
      continue;
    }
    if (day < today - past_days_ || day > today + future_days_) {
      continue;  // out of the window: results_default takes these rows
    }
    RETURN_IF_ERROR(CreatePartition(c, day));
    known_.insert(day);
  }
  return absl::OkStatus();
}

}  // namespace sonde::collector
