#include "collector/storage/civil_time.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace sonde::collector {
namespace {

// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
// civil_from_days): plain arithmetic, no time zone lookup. Ingest formats
// two times per result, so this is on the hot path.
struct CivilDay {
  int64_t year;
  int month, day;
};
CivilDay CivilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

}  // namespace

// PostgreSQL's timestamptz covers more, but proto Timestamps are valid in
// 0001-01-01..9999-12-31; clamping keeps a hostile value from poisoning a
// batch.
absl::Time StartTime(const v1::ProbeResult& r) {
  int64_t s = std::clamp<int64_t>(r.start_time().seconds(), kMinPgSeconds, kMaxPgSeconds);
  int32_t n = std::clamp<int32_t>(r.start_time().nanos(), 0, 999999999);
  return absl::FromUnixSeconds(s) + absl::Nanoseconds(n);
}

int64_t DayOf(absl::Time t) {
  int64_t s = absl::ToUnixSeconds(t);
  return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

absl::Time DayStart(int64_t day) { return absl::FromUnixSeconds(day * 86400); }

absl::Time MinuteOf(absl::Time t) {
  return absl::Floor(t - absl::UnixEpoch(), absl::Minutes(1)) + absl::UnixEpoch();
}

// Writes `v` as exactly `digits` decimal digits (zero-padded) at `p`.
void PutDigits(int64_t v, int digits, char* p) {
  for (int i = digits - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

// "YYYY-MM-DD?HH:MM:SS" for unix seconds in years 1..9999.
void AppendCivil(int64_t unix_seconds, char date_time_separator, std::string* out) {
  const int64_t days =
      unix_seconds >= 0 ? unix_seconds / 86400 : -((-unix_seconds + 86399) / 86400);
  const int64_t secs = unix_seconds - days * 86400;
  const CivilDay c = CivilFromDays(days);
  char buf[19] = {0, 0, 0,   0, '-', 0,   0, '-', 0, 0, date_time_separator,
                  0, 0, ':', 0, 0,   ':', 0, 0};
  PutDigits(c.year, 4, buf);
  PutDigits(c.month, 2, buf + 5);
  PutDigits(c.day, 2, buf + 8);
  PutDigits(secs / 3600, 2, buf + 11);
  PutDigits(secs / 60 % 60, 2, buf + 14);
  PutDigits(secs % 60, 2, buf + 17);
  out->append(buf, sizeof buf);
}

std::string PgTime(absl::Time t) {
  const int64_t s = absl::ToUnixSeconds(t);  // floor
  if (s < kMinPgSeconds || s > kMaxPgSeconds) {
    return absl::FormatTime("%E4Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
  }
  std::string out;
  out.reserve(32);
  AppendCivil(s, ' ', &out);
  const int64_t micros = absl::ToInt64Microseconds(t - absl::FromUnixSeconds(s));
  char buf[10] = {'.', 0, 0, 0, 0, 0, 0, '+', '0', '0'};
  PutDigits(micros, 6, buf + 1);
  out.append(buf, sizeof buf);
  return out;
}

// "YYYY-MM-DDTHH:MM:SSZ", the form probers write cert_not_after in; false
// for anything else (the caller then uses the general parser).
bool ParseSimpleRfc3339(absl::string_view text, absl::Time* out) {
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return false;
  }
  int v[6];
  const size_t at[6] = {0, 5, 8, 11, 14, 17}, len[6] = {4, 2, 2, 2, 2, 2};
  for (int i = 0; i < 6; ++i) {
    if (!absl::SimpleAtoi(text.substr(at[i], len[i]), &v[i]) ||
        !absl::ascii_isdigit(static_cast<unsigned char>(text[at[i]]))) {
      return false;
    }
  }
  const absl::CivilSecond cs(v[0], v[1], v[2], v[3], v[4], v[5]);
  if (cs.year() != v[0] || cs.month() != v[1] || cs.day() != v[2] || cs.hour() != v[3] ||
      cs.minute() != v[4] || cs.second() != v[5]) {
    return false;  // normalized: not a valid date
  }
  *out = absl::FromCivil(cs, absl::UTCTimeZone());
  return true;
}

}  // namespace sonde::collector
