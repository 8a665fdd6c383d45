// Times as ingest writes them, by plain arithmetic on the hot path: the
// clamped start of a result, its UTC day and minute, PostgreSQL's
// timestamptz text ("2026-11-21 09:00:00.000000+00"), RFC 3339 digits for
// the JSON printer, and the strict RFC 3339 form probers send for
// certificate expiry. Ingest formats two times per result, so no time zone
// lookup happens here. Pure functions; any thread.
#ifndef SONDE_COLLECTOR_STORAGE_CIVIL_TIME_H_
#define SONDE_COLLECTOR_STORAGE_CIVIL_TIME_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "sonde/v1/result.pb.h"

namespace sonde::collector {

// The range PostgreSQL and proto Timestamps share.
inline constexpr int64_t kMinPgSeconds = common::kMinTimestampSeconds;
inline constexpr int64_t kMaxPgSeconds = common::kMaxTimestampSeconds;

// The result's start_time clamped into [kMinPgSeconds, kMaxPgSeconds]: a
// hostile value must not poison a batch.
absl::Time StartTime(const v1::ProbeResult& r);

// Days since 1970-01-01 UTC (floor), the start of such a day, the minute
// containing `t`.
int64_t DayOf(absl::Time t);
absl::Time DayStart(int64_t day);
absl::Time MinuteOf(absl::Time t);

// Writes `v` as exactly `digits` decimal digits (zero-padded) at `p`.
void PutDigits(int64_t v, int digits, char* p);
// "YYYY-MM-DD?HH:MM:SS" for unix seconds in years 1..9999.
void AppendCivil(int64_t unix_seconds, char date_time_separator, std::string* out);

// timestamptz input text, microseconds, UTC.
std::string PgTime(absl::Time t);

// "YYYY-MM-DDTHH:MM:SSZ", the form probers write cert_not_after in; false
// for anything else (the caller then uses the general parser).
bool ParseSimpleRfc3339(absl::string_view text, absl::Time* out);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_CIVIL_TIME_H_
