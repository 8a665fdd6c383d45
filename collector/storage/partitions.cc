#include "collector/storage/partitions.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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

// Fillfactors of the rollup partitions (see PartitionedTable::fillfactor).
// A minute row is updated for a minute, an hour or day row all through its
// hour or day, by every batch with its check: those pages keep half free.
// At 100 only ~5 % of the rollup updates of bench/ingest were HOT, at 50
// 99 %, and the three upserts took a third of the time.
// The `_class` rows are few (failures only) and stay at 100.
constexpr int kMinuteFillFactor = 70;
constexpr int kCoarseFillFactor = 50;

// A partition's name suffix: its start as FormatTime writes it, and how
// many digits that is.
struct Suffix {
  const char* format;
  size_t digits;
};

Suffix SpanSuffix(PartitionSpan span) {
  switch (span) {
    case PartitionSpan::kDay:
      return {"%Y%m%d", 8};
    case PartitionSpan::kMonth:
      return {"%Y%m", 6};
    case PartitionSpan::kYear:
      return {"%Y", 4};
  }
  return {"%Y%m%d", 8};
}

// The start of the span that holds `t`, moved `later` spans on (UTC).
absl::Time SpanStart(PartitionSpan span, absl::Time t, int later) {
  const absl::CivilSecond c = absl::ToCivilSecond(t, absl::UTCTimeZone());
  switch (span) {
    case PartitionSpan::kDay:
      return absl::FromCivil(absl::CivilDay(c) + later, absl::UTCTimeZone());
    case PartitionSpan::kMonth:
      return absl::FromCivil(absl::CivilMonth(c) + later, absl::UTCTimeZone());
    case PartitionSpan::kYear:
      return absl::FromCivil(absl::CivilYear(c) + later, absl::UTCTimeZone());
  }
  return t;
}

// " WITH (fillfactor = N)" when the table has one, else "".
std::string WithFillFactor(const PartitionedTable& table) {
  if (table.fillfactor >= 100) {
    return "";
  }
  return absl::StrCat(" WITH (fillfactor = ", table.fillfactor, ")");
}

// Creates the partition of `table` starting at `start` unless it exists.
// Rows of its range that went to the DEFAULT partition earlier (when the
// range was outside the window) move into it, otherwise ATTACH would
// refuse. ATTACH takes SHARE UPDATE EXCLUSIVE on the parent, so ingest into
// other partitions goes on. Serialized by an advisory lock, so concurrent
// collectors cannot race on the same name.
absl::Status CreatePartition(PGconn* c, const PartitionedTable& table, absl::Time start) {
  const std::string name = PartitionName(table, start);
  const std::string lo = PgTime(start);
  const std::string hi = PgTime(NextPartitionStart(table.span, start));
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
             absl::StrCat("CREATE TABLE ", name, " (LIKE ", table.table,
                          " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)", WithFillFactor(table),
                          ";"
                          "WITH moved AS (DELETE FROM ",
                          table.table, "_default WHERE ", table.column, " >= '", lo, "' AND ",
                          table.column, " < '", hi, "' RETURNING *) INSERT INTO ", name,
                          " SELECT * FROM moved;"
                          "ALTER TABLE ",
                          table.table, " ATTACH PARTITION ", name, " FOR VALUES FROM ('", lo,
                          "') TO ('", hi, "')"),
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

const std::vector<PartitionedTable>& PartitionedTables() {
  static const std::vector<PartitionedTable> kTables = {
      {"results", "started_at", PartitionSpan::kDay},
      {"rollup_minute", "minute", PartitionSpan::kDay, kMinuteFillFactor},
      {"rollup_minute_class", "minute", PartitionSpan::kDay},
      {"rollup_hour", "hour", PartitionSpan::kMonth, kCoarseFillFactor},
      {"rollup_hour_class", "hour", PartitionSpan::kMonth},
      {"rollup_day", "day", PartitionSpan::kYear, kCoarseFillFactor},
      {"rollup_day_class", "day", PartitionSpan::kYear},
      {"result_feed", "at", PartitionSpan::kDay},
  };
  return kTables;
}

absl::Time PartitionStart(PartitionSpan span, absl::Time t) { return SpanStart(span, t, 0); }

absl::Time NextPartitionStart(PartitionSpan span, absl::Time start) {
  return SpanStart(span, start, 1);
}

std::string PartitionName(const PartitionedTable& table, absl::Time start) {
  return absl::StrCat(table.table, "_p",
                      absl::FormatTime(SpanSuffix(table.span).format, start, absl::UTCTimeZone()));
}

std::optional<absl::Time> ParsePartitionName(const PartitionedTable& table,
                                             absl::string_view name) {
  const std::string prefix = absl::StrCat(table.table, "_p");
  if (!absl::StartsWith(name, prefix)) {
    return std::nullopt;
  }
  absl::string_view digits = name.substr(prefix.size());
  const size_t want = SpanSuffix(table.span).digits;
  if (digits.size() != want) {
    return std::nullopt;
  }
  int y = 0, m = 1, d = 1;
  if (!absl::SimpleAtoi(digits.substr(0, 4), &y) ||
      (want >= 6 && !absl::SimpleAtoi(digits.substr(4, 2), &m)) ||
      (want == 8 && !absl::SimpleAtoi(digits.substr(6, 2), &d))) {
    return std::nullopt;
  }
  const absl::CivilDay day(y, m, d);
  if (day.year() != y || day.month() != m || day.day() != d) {
    return std::nullopt;  // not a real date ("20261341")
  }
  return absl::FromCivil(day, absl::UTCTimeZone());
}

std::string PartitionName(int64_t day) {
  return PartitionName(PartitionedTables()[0], DayStart(day));
}

absl::Status Partitions::SetFillFactors(PGconn* c) {
  for (const PartitionedTable& table : PartitionedTables()) {
    if (table.fillfactor >= 100) {
      continue;
    }
    const std::string want = absl::StrCat("fillfactor=", table.fillfactor);
    ASSIGN_OR_RETURN(
        PgResultPtr children,
        ExecParams(c,
                   "SELECT quote_ident(c.relname) FROM pg_inherits i"
                   " JOIN pg_class c ON c.oid = i.inhrelid"
                   " WHERE i.inhparent = $1::text::regclass"
                   " AND NOT coalesce($2::text = ANY (c.reloptions), false)",
                   {table.table, want}, absl::StrCat("list partitions of ", table.table)));
    for (int i = 0; i < PQntuples(children.get()); ++i) {
      const std::string name = PQgetvalue(children.get(), i, 0);
      RETURN_IF_ERROR(Exec(c, absl::StrCat("ALTER TABLE ", name, " SET (", want, ")"),
                           absl::StrCat("set the fillfactor of ", name))
                          .status());
    }
  }
  return absl::OkStatus();
}

absl::Status Partitions::Ensure(PGconn* c, const std::set<int64_t>& days) {
  int64_t today = DayOf(absl::Now());
  for (int64_t day : days) {
    if (day < today - past_days_ || day > today + future_days_) {
      continue;  // out of the window: the DEFAULT partitions take these rows
    }
    for (const PartitionedTable& table : PartitionedTables()) {
      const absl::Time start = PartitionStart(table.span, DayStart(day));
      const auto key = std::make_pair(table.table, absl::ToUnixSeconds(start));
      if (known_.count(key) > 0) {
        continue;
      }
      RETURN_IF_ERROR(CreatePartition(c, table, start));
      known_.insert(key);
    }
  }
  return absl::OkStatus();
}

}  // namespace sonde::collector
