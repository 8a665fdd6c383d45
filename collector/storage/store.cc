#include "collector/storage/store.h"

#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/storage/pg/pg.h"
#include "common/result_json.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

using common::AppendJsonString;
using pg::ArrayLiteral;
using pg::Checked;
using pg::Exec;
using pg::ExecParams;
using pg::OneLine;
using pg::PgError;
using pg::PgResultPtr;

namespace pb = google::protobuf;

struct ConnInfoDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using ConnInfoPtr = std::unique_ptr<PQconninfoOption, ConnInfoDeleter>;

// Advisory lock keys ("sonde" + a small number); any stable constants do.
constexpr int64_t kMigrationLockKey = 0x736f6e6465000001;
constexpr int64_t kPartitionLockKey = 0x736f6e6465000002;

constexpr size_t kCopyChunkBytes = 1 << 20;
constexpr size_t kRollupRowsPerStatement = 500;

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Append-only: a released migration is never edited, a change is a new one.
constexpr Migration kMigrations[] = {
    {1, "results, ingested_batches, rollups", R"sql(
CREATE TABLE results (
  prober_id        text        NOT NULL,
  seq              bigint      NOT NULL,
  check_id         text        NOT NULL,
  service          text        NOT NULL,
  kind             text        NOT NULL,
  region           text        NOT NULL,
  started_at       timestamptz NOT NULL,
  ok               boolean     NOT NULL,
  failure_class    text        NOT NULL,
  detail           text        NOT NULL,
  dns_us           integer     NOT NULL,
  connect_us       integer     NOT NULL,
  tls_us           integer     NOT NULL,
  first_byte_us    integer     NOT NULL,
  total_us         integer     NOT NULL,
  target           text        NOT NULL,
  resolved_address text        NOT NULL,
  http_status      integer     NOT NULL,
  request_index    integer     NOT NULL,
  tls_version      text        NOT NULL,
  cert_not_after   timestamptz,
  cert_days_left   integer,
  dns_rcode        text        NOT NULL,
  banner           text        NOT NULL,
  extra            jsonb       NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (started_at);
COMMENT ON TABLE results IS
  'One row per probe result; daily partitions results_pYYYYMMDD (UTC) plus results_default.';
CREATE TABLE results_default PARTITION OF results DEFAULT;
CREATE INDEX results_check_region_started ON results (check_id, region, started_at);

CREATE TABLE ingested_batches (
  prober_id   text        NOT NULL,
  batch_seq   bigint      NOT NULL,
  results     integer     NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (prober_id, batch_seq)
);

CREATE TABLE rollup_minute (
  check_id      text        NOT NULL,
  service       text        NOT NULL,
  region        text        NOT NULL,
  minute        timestamptz NOT NULL,
  probes        bigint      NOT NULL,
  failures      bigint      NOT NULL,
  prober_errors bigint      NOT NULL DEFAULT 0,
  last_result   timestamptz NOT NULL,
  PRIMARY KEY (check_id, region, minute)
);
COMMENT ON COLUMN rollup_minute.probes IS 'results that measured the target (PROBER_ERROR excluded)';
CREATE INDEX rollup_minute_minute ON rollup_minute (minute);

CREATE TABLE rollup_minute_class (
  check_id      text        NOT NULL,
  region        text        NOT NULL,
  minute        timestamptz NOT NULL,
  failure_class text        NOT NULL,
  n             bigint      NOT NULL,
  PRIMARY KEY (check_id, region, minute, failure_class)
);
CREATE INDEX rollup_minute_class_minute ON rollup_minute_class (minute);
)sql"},
    {2, "gaps", R"sql(
CREATE TABLE gaps (
  prober_id       text        NOT NULL,
  region          text        NOT NULL,
  first_batch_seq bigint      NOT NULL,
  last_batch_seq  bigint      NOT NULL,
  results         bigint      NOT NULL,
  from_time       timestamptz,
  to_time         timestamptz,
  received_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (prober_id, first_batch_seq)
);
COMMENT ON TABLE gaps IS 'results a prober dropped (spool over its cap): no data, not downtime';
CREATE INDEX gaps_to_time ON gaps (to_time);
)sql"},
    {3, "incidents, incident_events, outbox", R"sql(
CREATE TABLE incidents (
  id                 text        PRIMARY KEY,
  kind               text        NOT NULL,
  severity           text        NOT NULL,
  service            text        NOT NULL,
  checks             text[]      NOT NULL,
  regions            text[]      NOT NULL,
  hosts              text[]      NOT NULL,
  protocol           text        NOT NULL,
  failure_class      text        NOT NULL,
  failing_share      double precision NOT NULL,
  latency_phase      text        NOT NULL,
  latency_p95_ms     double precision NOT NULL,
  latency_baseline_p95_ms double precision NOT NULL,
  affected_targets   integer     NOT NULL,
  recovered_targets  integer     NOT NULL,
  evidence           text        NOT NULL,
  opened_at          timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  resolved_at        timestamptz,
  acknowledged_at    timestamptz,
  acknowledged_by    text,
  in_maintenance     boolean     NOT NULL DEFAULT false
);
COMMENT ON TABLE incidents IS 'one row per incident, kept current; resolved_at NULL while open';
CREATE INDEX incidents_open ON incidents (opened_at) WHERE resolved_at IS NULL;
CREATE INDEX incidents_opened_at ON incidents (opened_at);

CREATE TABLE incident_events (
  id                 bigserial   PRIMARY KEY,
  incident_id        text        NOT NULL REFERENCES incidents (id),
  at                 timestamptz NOT NULL,
  kind               text        NOT NULL,
  incident_kind      text        NOT NULL,
  regions            text[]      NOT NULL,
  affected_targets   integer     NOT NULL,
  recovered_targets  integer     NOT NULL,
  failing_share      double precision NOT NULL,
  detail             text        NOT NULL
);
COMMENT ON TABLE incident_events IS 'incident timeline: detector events, notifications, acknowledgements';
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

CREATE TABLE outbox (
  id                 bigserial   PRIMARY KEY,
  incident_id        text        REFERENCES incidents (id),
  notifier           text        NOT NULL,
  event              text        NOT NULL,
  payload            json        NOT NULL,  -- json, not jsonb: sent byte for byte (HMAC)
  created_at         timestamptz NOT NULL DEFAULT now(),
  next_attempt_at    timestamptz NOT NULL DEFAULT now(),
  attempts           integer     NOT NULL DEFAULT 0,
  delivered_at       timestamptz,
  last_error         text
);
COMMENT ON TABLE outbox IS 'notifications to deliver, written in the transaction of the incident change that caused them';
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_incident ON outbox (incident_id, notifier, id);
)sql"},
};

constexpr char kCopyResults[] =
    "COPY results (prober_id, seq, check_id, service, kind, region, "
    "started_at, ok, "
    "failure_class, detail, dns_us, connect_us, tls_us, first_byte_us, "
    "total_us, target, "
    "resolved_address, http_status, request_index, tls_version, "
    "cert_not_after, "
    "cert_days_left, dns_rcode, banner, extra) FROM STDIN";

// Rollup upserts: $1 the batch's region, then one array per column, rows in
// key order (so concurrent streams lock rollup rows in the same order and
// cannot deadlock).
constexpr PreparedStatement kRollupMinute = {
    "sonde_rollup_minute",
    "INSERT INTO rollup_minute AS r (check_id, service, region, minute, probes,"
    " failures, prober_errors, last_result)"
    " SELECT c, s, $1::text, m, p, f, e, l FROM unnest($2::text[], $3::text[],"
    " $4::timestamptz[], $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[])"
    " AS u(c, s, m, p, f, e, l)"
    " ON CONFLICT (check_id, region, minute) DO UPDATE SET"
    " service = excluded.service,"
    " probes = r.probes + excluded.probes,"
    " failures = r.failures + excluded.failures,"
    " prober_errors = r.prober_errors + excluded.prober_errors,"
    " last_result = greatest(r.last_result, excluded.last_result)"};
constexpr PreparedStatement kRollupMinuteClass = {
    "sonde_rollup_minute_class",
    "INSERT INTO rollup_minute_class AS r (check_id, region, minute, failure_class, n)"
    " SELECT c, $1::text, m, k, n FROM unnest($2::text[], $3::timestamptz[], $4::text[],"
    " $5::bigint[]) AS u(c, m, k, n)"
    " ON CONFLICT (check_id, region, minute, failure_class) DO UPDATE SET n = r.n + excluded.n"};

// ---- value encoding ----

// Length of the well-formed UTF-8 sequence at p[0..n), or 0 if there is none
// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80) {
    return 1;
  }
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c == 0xE0) {
    len = 3;
    lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    len = 3;
  } else if (c == 0xED) {
    len = 3;
    hi = 0x9F;
  } else if (c == 0xF0) {
    len = 4;
    lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    len = 4;
  } else if (c == 0xF4) {
    len = 4;
    hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi) {
    return 0;
  }
  for (size_t i = 2; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) {
      return 0;
    }
  }
  return len;
}

bool IsCleanUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (p[i] != 0 && p[i] < 0x80) {  // ASCII, the common case
      ++i;
      continue;
    }
    if (p[i] == 0) {
      return false;
    }
    size_t len = Utf8SequenceLength(p + i, s.size() - i);
    if (len == 0) {
      return false;
    }
    i += len;
  }
  return true;
}

// True when every string field (recursively) is valid UTF-8 without NUL
// bytes, i.e. SanitizeMessage would change nothing. Reads in place, so the
// common, clean batch is stored without a copy.
bool MessageIsClean(const pb::Message& m) {
  const pb::Reflection* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  std::string scratch;
  for (const pb::FieldDescriptor* f : fields) {
    if (f->type() == pb::FieldDescriptor::TYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          if (!IsCleanUtf8(r->GetRepeatedStringReference(m, f, i, &scratch))) {
            return false;
          }
        }
      } else if (!IsCleanUtf8(r->GetStringReference(m, f, &scratch))) {
        return false;
      }
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          if (!MessageIsClean(r->GetRepeatedMessage(m, f, i))) {
            return false;
          }
        }
      } else if (!MessageIsClean(r->GetMessage(m, f))) {
        return false;
      }
    }
  }
  return true;
}

// Makes every string field (recursively) valid UTF-8 without NUL bytes, so
// that neither COPY nor jsonb can reject the row.
void SanitizeMessage(pb::Message* m) {
  const pb::Reflection* r = m->GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->type() == pb::FieldDescriptor::TYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          std::string v = r->GetRepeatedString(*m, f, i);
          if (!IsCleanUtf8(v)) {
            r->SetRepeatedString(m, f, i, SanitizeUtf8(v));
          }
        }
      } else {
        std::string v = r->GetString(*m, f);
        if (!IsCleanUtf8(v)) {
          r->SetString(m, f, SanitizeUtf8(v));
        }
      }
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          SanitizeMessage(r->MutableRepeatedMessage(m, f, i));
        }
      } else {
        SanitizeMessage(r->MutableMessage(m, f));
      }
    }
  }
}

// PostgreSQL's timestamptz covers more, but proto Timestamps are valid in
// 0001-01-01..9999-12-31; clamping keeps a hostile value from poisoning a
// batch.
absl::Time StartTime(const v1::ProbeResult& r) {
  constexpr int64_t kMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
  int64_t s = std::clamp<int64_t>(r.start_time().seconds(), kMinSeconds, kMaxSeconds);
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

constexpr int64_t kMinPgSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxPgSeconds = 253402300799;  // 9999-12-31T23:59:59Z

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

std::string PartitionName(int64_t day) {
  return absl::StrCat("results_p", absl::FormatTime("%Y%m%d", DayStart(day), absl::UTCTimeZone()));
}

std::string ClassName(v1::FailureClass::Code code) {
  const std::string& name = v1::FailureClass::Code_Name(code);
  return name.empty() ? absl::StrCat(static_cast<int>(code)) : name;
}

// proto uint32 -> SQL integer without overflowing it.
int64_t ClampInt32(uint64_t v) {
  return static_cast<int64_t>(std::min<uint64_t>(v, std::numeric_limits<int32_t>::max()));
}

void AppendField(absl::string_view value, std::string* out) {
  AppendCopyField(value, out);
  out->push_back('\t');
}

void AppendNumber(int64_t value, std::string* out) { absl::StrAppend(out, value, "\t"); }

// ---- proto3 JSON of a result (the `extra` column) ----
//
// MessageToJsonString builds a type description and an object-writer
// pipeline per call; ingest prints one JSON per result, and that was most of
// the collector's CPU. This printer walks the message by reflection and
// writes what MessageToJsonString writes with preserve_proto_field_names
// (set fields only; 64-bit integers as strings; enums by name; bytes in
// base64; google.protobuf.Timestamp in RFC 3339). Message types with
// anything else (maps, floating point, other well-known types) take the
// general printer. Tests compare both printers (store_encoding_test.cc).

bool FastJsonSupports(const pb::Descriptor* d, int depth) {
  if (d->full_name() == "google.protobuf.Timestamp") {
    return true;
  }
  if (depth > 8 || absl::StartsWith(d->file()->name(), "google/protobuf/")) {
    return false;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->is_map() || f->cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT ||
        f->cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE) {
      return false;
    }
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
        !FastJsonSupports(f->message_type(), depth + 1)) {
      return false;
    }
  }
  return true;
}

// RFC 3339 with 0, 3, 6 or 9 fractional digits, as protobuf prints it.
bool AppendTimestampJson(const pb::Message& m, std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  const pb::Descriptor* d = m.GetDescriptor();
  const int64_t seconds = r->GetInt64(m, d->FindFieldByNumber(1));
  const int32_t nanos = r->GetInt32(m, d->FindFieldByNumber(2));
  if (seconds < kMinPgSeconds || seconds > kMaxPgSeconds || nanos < 0 || nanos > 999999999) {
    return false;
  }
  out->push_back('"');
  AppendCivil(seconds, 'T', out);
  if (nanos != 0) {
    const int digits = nanos % 1000000 == 0 ? 3 : nanos % 1000 == 0 ? 6 : 9;
    char buf[10] = {'.'};
    PutDigits(digits == 3 ? nanos / 1000000 : digits == 6 ? nanos / 1000 : nanos, digits, buf + 1);
    out->append(buf, 1 + digits);
  }
  out->append("Z\"");
  return true;
}

bool AppendMessageJson(const pb::Message& m, std::string* out);

// One value of field `f` (element `i` when repeated).
bool AppendFieldValueJson(const pb::Message& m, const pb::FieldDescriptor* f, int i,
                          std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(out, rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f));
      return true;
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(out, rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f));
      return true;
    case pb::FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(out, "\"", rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f), "\"");
      return true;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(out, "\"", rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f), "\"");
      return true;
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      out->append((rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f)) ? "true" : "false");
      return true;
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const int number = rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
      const pb::EnumValueDescriptor* v = f->enum_type()->FindValueByNumber(number);
      if (v != nullptr) {
        AppendJsonString(v->name(), out);
      } else {
        absl::StrAppend(out, number);
      }
      return true;
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& v = rep ? r->GetRepeatedStringReference(m, f, i, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      if (f->type() == pb::FieldDescriptor::TYPE_BYTES) {
        AppendJsonString(absl::Base64Escape(v), out);
      } else {
        AppendJsonString(v, out);
      }
      return true;
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      const pb::Message& sub = rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f);
      if (sub.GetDescriptor()->full_name() == "google.protobuf.Timestamp") {
        return AppendTimestampJson(sub, out);
      }
      return AppendMessageJson(sub, out);
    }
    default:
      return false;
  }
}

bool AppendMessageJson(const pb::Message& m, std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  out->push_back('{');
  bool first = true;
  for (const pb::FieldDescriptor* f : fields) {
    if (!first) {
      out->push_back(',');
    }
    first = false;
    AppendJsonString(f->name(), out);
    out->push_back(':');
    if (!f->is_repeated()) {
      if (!AppendFieldValueJson(m, f, -1, out)) {
        return false;
      }
      continue;
    }
    out->push_back('[');
    for (int i = 0; i < r->FieldSize(m, f); ++i) {
      if (i > 0) {
        out->push_back(',');
      }
      if (!AppendFieldValueJson(m, f, i, out)) {
        return false;
      }
    }
    out->push_back(']');
  }
  out->push_back('}');
  return true;
}

// One `results` row in COPY text format; `r` is already sanitized.
void AppendResultRow(const v1::ResultBatch& batch, const v1::ProbeResult& r, std::string* out) {
  AppendField(batch.prober_id(), out);
  AppendNumber(static_cast<int64_t>(r.seq()), out);
  AppendField(r.check_id(), out);
  AppendField(r.service(), out);
  AppendField(r.kind(), out);
  AppendField(batch.region(), out);
  AppendField(PgTime(StartTime(r)), out);
  AppendField(r.ok() ? "t" : "f", out);
  AppendField(ClassName(r.failure_class()), out);
  AppendField(r.detail(), out);
  AppendNumber(ClampInt32(r.dns_us()), out);
  AppendNumber(ClampInt32(r.connect_us()), out);
  AppendNumber(ClampInt32(r.tls_us()), out);
  AppendNumber(ClampInt32(r.first_byte_us()), out);
  AppendNumber(ClampInt32(r.total_us()), out);
  AppendField(r.target(), out);
  AppendField(r.resolved_address(), out);
  AppendNumber(r.http_status(), out);
  AppendNumber(ClampInt32(r.request_index()), out);
  AppendField(r.tls_version(), out);
  absl::Time not_after;
  std::string parse_error;
  bool has_cert =
      !r.cert_not_after().empty() &&
      (ParseSimpleRfc3339(r.cert_not_after(), &not_after) ||
       absl::ParseTime(absl::RFC3339_full, r.cert_not_after(), &not_after, &parse_error)) &&
      not_after > absl::FromUnixSeconds(-62135596800) &&
      not_after < absl::FromUnixSeconds(253402300799);
  if (has_cert) {
    AppendField(PgTime(not_after), out);
    AppendNumber(r.cert_days_left(), out);
  } else {
    out->append("\\N\t\\N\t");
  }
  AppendField(r.dns_rcode(), out);
  AppendField(r.banner(), out);

  AppendCopyField(ResultJson(r), out);
  out->push_back('\n');
}

}  // namespace

std::string SanitizeUtf8(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  while (i < in.size()) {
    if (p[i] == 0) {
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(p + i, in.size() - i);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      ++i;
      continue;
    }
    out.append(in.data() + i, len);
    i += len;
  }
  return out;
}

std::string ResultJson(const v1::ProbeResult& result) {
  static const bool kFast = FastJsonSupports(v1::ProbeResult::descriptor(), 0);
  std::string json;
  if (kFast) {
    json.reserve(512);
    if (AppendMessageJson(result, &json)) {
      return json;
    }
    json.clear();
  }
  pb::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  if (!pb::util::MessageToJsonString(result, &json, opts).ok()) {
    json = "{}";
  }
  return json;
}

const char* CopyResultsStatement() { return kCopyResults; }

void AppendCopyRow(const v1::ResultBatch& batch, const v1::ProbeResult& result, std::string* out) {
  AppendResultRow(batch, result, out);
}

void AppendCopyField(absl::string_view value, std::string* out) {
  // Runs of plain bytes are appended whole (this runs for every field of
  // every stored result).
  size_t plain = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    const char* escaped;
    switch (c) {
      case '\\':
        escaped = "\\\\";
        break;
      case '\t':
        escaped = "\\t";
        break;
      case '\n':
        escaped = "\\n";
        break;
      case '\r':
        escaped = "\\r";
        break;
      case '\0':
        escaped = "";  // COPY cannot carry NUL; SanitizeUtf8 already dropped it.
        break;
      default:
        continue;
    }
    out->append(value.data() + plain, i - plain);
    out->append(escaped);
    plain = i + 1;
  }
  out->append(value.data() + plain, value.size() - plain);
}

// ---- Store ----

absl::Status Store::ValidateConnInfo(const std::string& conninfo) {
  char* err = nullptr;
  ConnInfoPtr opts(PQconninfoParse(conninfo.c_str(), &err));
  if (opts == nullptr) {
    std::string message = err != nullptr ? OneLine(err) : "out of memory";
    PQfreemem(err);
    return absl::InvalidArgumentError(absl::StrCat("bad PostgreSQL connection string: ", message));
  }
  return absl::OkStatus();
}

std::string Store::DescribeConnInfo(const std::string& conninfo) {
  char* err = nullptr;
  ConnInfoPtr opts(PQconninfoParse(conninfo.c_str(), &err));
  PQfreemem(err);
  if (opts == nullptr) {
    return "(unparsable connection string)";
  }
  std::vector<std::string> parts;
  for (PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') {
      continue;
    }
    std::string key = o->keyword;
    if (key == "host" || key == "hostaddr" || key == "port" || key == "dbname" || key == "user") {
      parts.push_back(absl::StrCat(key, "=", o->val));
    }
  }
  if (parts.empty()) {
    return "(libpq defaults)";
  }
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<std::unique_ptr<Store>> Store::Connect(const std::string& conninfo,
                                                      StoreOptions options) {
  RETURN_IF_ERROR(ValidateConnInfo(conninfo));
  // Keywords before "dbname" are defaults the connection string may
  // override; those after it are forced.
  const char* keys[] = {
      "application_name", "connect_timeout", "keepalives_idle", "keepalives_interval",
      "keepalives_count", "dbname",          "client_encoding", nullptr};
  const char* values[] = {"sonde-collector", "10",   "30",   "10", "3",
                          conninfo.c_str(),  "UTF8", nullptr};
  PgConnPtr conn(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (conn == nullptr) {
    return absl::ResourceExhaustedError("libpq: out of memory");
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string message = OneLine(PQerrorMessage(conn.get()));
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL (", DescribeConnInfo(conninfo), "): ", message));
  }
  RETURN_IF_ERROR(Exec(conn.get(), "SET TIME ZONE 'UTC'", "set time zone").status());
  return std::unique_ptr<Store>(new Store(std::move(conn), options));
}

Store::Store(PgConnPtr conn, StoreOptions options) : conn_(std::move(conn)), options_(options) {
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

int Store::LatestSchemaVersion() {
  return kMigrations[sizeof(kMigrations) / sizeof(kMigrations[0]) - 1].version;
}

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

void Store::RollbackQuietly() {
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    return;
  }
  if (PQtransactionStatus(conn_.get()) == PQTRANS_IDLE) {
    return;
  }
  PgResultPtr res(PQexec(conn_.get(), "ROLLBACK"));
}

absl::Status Store::Migrate() {
  PGconn* c = conn_.get();
  RETURN_IF_ERROR(Exec(c, "BEGIN", "begin migration").status());
  auto run = [&]() -> absl::Status {
    RETURN_IF_ERROR(Exec(c, absl::StrCat("SELECT pg_advisory_xact_lock(", kMigrationLockKey, ")"),
                         "take the migration lock")
                        .status());
    RETURN_IF_ERROR(Exec(c,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version integer PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         "create schema_migrations")
                        .status());
    ASSIGN_OR_RETURN(PgResultPtr res,
                     Exec(c, "SELECT version FROM schema_migrations", "read schema_migrations"));
    std::set<int> applied;
    for (int i = 0; i < PQntuples(res.get()); ++i) {
      int v = 0;
      if (absl::SimpleAtoi(PQgetvalue(res.get(), i, 0), &v)) {
        applied.insert(v);
      }
    }
    for (const Migration& m : kMigrations) {
      if (applied.count(m.version) > 0) {
        continue;
      }
      RETURN_IF_ERROR(
          Exec(c, m.sql, absl::StrCat("migration ", m.version, " (", m.description, ")")).status());
      RETURN_IF_ERROR(ExecParams(c, "INSERT INTO schema_migrations (version) VALUES ($1::integer)",
                                 {absl::StrCat(m.version)}, "record migration")
                          .status());
      spdlog::info("applied schema migration {} ({})", m.version, m.description);
    }
    if (!applied.empty() && *applied.rbegin() > LatestSchemaVersion()) {
      spdlog::warn(
          "the database schema is at version {}, newer than this binary knows "
          "({})",
          *applied.rbegin(), LatestSchemaVersion());
    }
    return absl::OkStatus();
  };
  absl::Status st = run();
  if (!st.ok()) {
    RollbackQuietly();
    return st;
  }
  ASSIGN_OR_RETURN(PgResultPtr commit, Exec(c, "COMMIT", "commit migration"));
  // Partitions for the coming days, so the first batches find them.
  int64_t today = DayOf(absl::Now());
  std::set<int64_t> days;
  for (int64_t d = today - 1; d <= today + options_.partition_future_days; ++d) {
    days.insert(d);
  }
  return EnsurePartitions(days);
}

absl::Status Store::EnsurePartitions(const std::set<int64_t>& days) {
  int64_t today = DayOf(absl::Now());
  for (int64_t day : days) {
    if (partitions_known_.count(day) > 0) {
      continue;
    }
    if (day < today - options_.partition_past_days ||
        day > today + options_.partition_future_days) {
      continue;  // out of the window: results_default takes these rows
    }
    RETURN_IF_ERROR(CreatePartition(day));
    partitions_known_.insert(day);
  }
  return absl::OkStatus();
}

// Creates the day's partition unless it exists. Rows of that day that went
// to results_default earlier (when the day was outside the window) move into
// it, otherwise ATTACH would refuse. Serialized by an advisory lock, so
// concurrent collectors cannot race on the same name.
absl::Status Store::CreatePartition(int64_t day) {
  PGconn* c = conn_.get();
  const std::string name = PartitionName(day);
  const std::string lo = PgTime(DayStart(day));
  const std::string hi = PgTime(DayStart(day + 1));
  const std::string what = absl::StrCat("create partition ", name);
  RETURN_IF_ERROR(Exec(c, "BEGIN", what).status());
  auto run = [&]() -> absl::StatusOr<bool> {
    RETURN_IF_ERROR(
        Exec(c, absl::StrCat("SELECT pg_advisory_xact_lock(", kPartitionLockKey, ")"), what)
            .status());
    ASSIGN_OR_RETURN(PgResultPtr exists,
                     ExecParams(c, "SELECT to_regclass($1::text) IS NOT NULL", {name}, what));
    if (std::strcmp(PQgetvalue(exists.get(), 0, 0), "t") == 0) {
      return false;
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
    return true;
  };
  absl::StatusOr<bool> created = run();
  if (!created.ok()) {
    RollbackQuietly();
    return created.status();
  }
  RETURN_IF_ERROR(Exec(c, "COMMIT", what).status());
  if (*created) {
    spdlog::info("created partition {} [{}, {})", name, lo, hi);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Store::InsertBatch(const v1::ResultBatch& batch) {
  if (!healthy()) {
    return absl::UnavailableError("PostgreSQL connection lost earlier; reconnect");
  }
  std::set<int64_t> days;
  for (const v1::ProbeResult& r : batch.results()) {
    days.insert(DayOf(StartTime(r)));
  }
  RETURN_IF_ERROR(EnsurePartitions(days));

  RETURN_IF_ERROR(Exec(conn_.get(), "BEGIN", "begin batch").status());
  bool duplicate = false;
  absl::Status st = InsertBatchInTransaction(batch, &duplicate);
  if (!st.ok()) {
    RollbackQuietly();
    return st;
  }
  if (duplicate) {
    RETURN_IF_ERROR(Exec(conn_.get(), "ROLLBACK", "roll back duplicate batch").status());
    return true;
  }
  ASSIGN_OR_RETURN(PgResultPtr commit, Exec(conn_.get(), "COMMIT", "commit batch"));
  // COMMIT of a transaction that failed earlier reports ROLLBACK, not an error.
  if (std::strcmp(PQcmdStatus(commit.get()), "COMMIT") != 0) {
    return absl::InternalError(
        absl::StrCat("commit batch: the server answered ", PQcmdStatus(commit.get())));
  }
  return false;
}

absl::Status Store::InsertBatchInTransaction(const v1::ResultBatch& batch, bool* duplicate) {
  std::string prober_id = SanitizeUtf8(batch.prober_id());
  ASSIGN_OR_RETURN(PgResultPtr res,
                   ExecParams(conn_.get(),
                              "INSERT INTO ingested_batches (prober_id, batch_seq, results)"
                              " VALUES ($1::text, $2::bigint, $3::integer)"
                              " ON CONFLICT (prober_id, batch_seq) DO NOTHING RETURNING 1",
                              {prober_id, absl::StrCat(static_cast<int64_t>(batch.batch_seq())),
                               absl::StrCat(batch.results_size())},
                              "record batch"));
  if (PQntuples(res.get()) == 0) {
    *duplicate = true;
    return absl::OkStatus();
  }
  for (const v1::Gap& gap : batch.gaps()) {
    RETURN_IF_ERROR(
        ExecParams(conn_.get(),
                   "INSERT INTO gaps (prober_id, region, first_batch_seq,"
                   " last_batch_seq, results, from_time, to_time)"
                   " VALUES ($1::text, $2::text, $3::bigint, $4::bigint,"
                   " $5::bigint, to_timestamp($6::bigint),"
                   " to_timestamp($7::bigint))"
                   " ON CONFLICT (prober_id, first_batch_seq) DO NOTHING",
                   {prober_id, SanitizeUtf8(batch.region()),
                    absl::StrCat(static_cast<int64_t>(gap.first_batch_seq())),
                    absl::StrCat(static_cast<int64_t>(gap.last_batch_seq())),
                    absl::StrCat(static_cast<int64_t>(gap.results())),
                    absl::StrCat(gap.from().seconds()), absl::StrCat(gap.to().seconds())},
                   "record gap")
            .status());
    spdlog::warn("prober {} ({}) reports {} results lost (spool full)", prober_id, batch.region(),
                 gap.results());
  }
  if (batch.results_size() == 0) {
    return absl::OkStatus();
  }
  // Almost every batch is clean already: store it as it is. Only a batch
  // with a bad string pays for a sanitized copy.
  bool clean = IsCleanUtf8(batch.prober_id()) && IsCleanUtf8(batch.region());
  for (int i = 0; clean && i < batch.results_size(); ++i) {
    clean = MessageIsClean(batch.results(i));
  }
  if (clean) {
    RETURN_IF_ERROR(CopyResults(batch));
    return UpdateRollups(batch);
  }
  v1::ResultBatch sanitized;
  sanitized.set_prober_id(prober_id);
  sanitized.set_region(SanitizeUtf8(batch.region()));
  sanitized.set_batch_seq(batch.batch_seq());
  *sanitized.mutable_results() = batch.results();
  for (v1::ProbeResult& r : *sanitized.mutable_results()) {
    SanitizeMessage(&r);
  }
  RETURN_IF_ERROR(CopyResults(sanitized));
  return UpdateRollups(sanitized);
}

absl::Status Store::CopyResults(const v1::ResultBatch& batch) {
  PGconn* c = conn_.get();
  RETURN_IF_ERROR(
      Checked(c, PQexec(c, kCopyResults), "start COPY results", {PGRES_COPY_IN}).status());
  std::string buf;
  buf.reserve(kCopyChunkBytes + 64 * 1024);
  auto flush = [&]() -> absl::Status {
    if (buf.empty()) {
      return absl::OkStatus();
    }
    if (PQputCopyData(c, buf.data(), static_cast<int>(buf.size())) != 1) {
      return PgError(c, nullptr, "COPY results");
    }
    buf.clear();
    return absl::OkStatus();
  };
  absl::Status st;
  for (const v1::ProbeResult& r : batch.results()) {
    AppendResultRow(batch, r, &buf);
    if (buf.size() >= kCopyChunkBytes) {
      st = flush();
      if (!st.ok()) {
        break;
      }
    }
  }
  if (st.ok()) {
    st = flush();
  }
  if (PQputCopyEnd(c, st.ok() ? nullptr : "sonde: aborted") != 1 && st.ok()) {
    st = PgError(c, nullptr, "end COPY results");
  }
  // Drain every result so the connection is usable (or known dead) afterwards.
  while (PGresult* raw = PQgetResult(c)) {
    absl::Status r = Checked(c, raw, "COPY results", {PGRES_COMMAND_OK}).status();
    if (st.ok() && !r.ok()) {
      st = r;
    }
  }
  return st;
}

absl::Status Store::UpdateRollups(const v1::ResultBatch& batch) {
  struct Minute {
    std::string service;
    int64_t probes = 0;
    int64_t failures = 0;
    int64_t prober_errors = 0;
    absl::Time last = absl::InfinitePast();
  };
  // Ordered maps: every transaction touches rollup rows in the same order,
  // so concurrent streams cannot deadlock on them.
  using Key = std::tuple<std::string, int64_t>;  // check_id, minute (unix seconds)
  std::map<Key, Minute> minutes;
  std::map<std::tuple<std::string, int64_t, std::string>, int64_t> classes;
  for (const v1::ProbeResult& r : batch.results()) {
    absl::Time t = StartTime(r);
    int64_t minute = absl::ToUnixSeconds(MinuteOf(t));
    Minute& m = minutes[Key(r.check_id(), minute)];
    m.service = r.service();
    m.last = std::max(m.last, t);
    bool prober_error = r.failure_class() == v1::FailureClass::PROBER_ERROR;
    if (prober_error) {
      ++m.prober_errors;
    } else {
      ++m.probes;
      if (!r.ok()) {
        ++m.failures;
      }
    }
    if (!r.ok() || prober_error) {
      ++classes[std::make_tuple(r.check_id(), minute, ClassName(r.failure_class()))];
    }
  }

  // One prepared statement per table, the rows as arrays: PostgreSQL parses
  // and plans it once per connection instead of a VALUES list with
  // thousands of parameters per batch (that was most of its ingest work).
  ArrayLiteral check_ids, services, minute_starts, probes, failures, prober_errors, lasts;
  for (const auto& [key, m] : minutes) {
    check_ids.Add(std::get<0>(key));
    services.Add(m.service);
    minute_starts.Add(PgTime(absl::FromUnixSeconds(std::get<1>(key))));
    probes.Add(absl::StrCat(m.probes));
    failures.Add(absl::StrCat(m.failures));
    prober_errors.Add(absl::StrCat(m.prober_errors));
    lasts.Add(PgTime(m.last));
  }
  RETURN_IF_ERROR(
      ExecPrepared(kRollupMinute,
                   {batch.region(), check_ids.Done(), services.Done(), minute_starts.Done(),
                    probes.Done(), failures.Done(), prober_errors.Done(), lasts.Done()},
                   "update rollup_minute"));
  if (classes.empty()) {
    return absl::OkStatus();
  }
  ArrayLiteral class_checks, class_minutes, class_names, counts;
  for (const auto& [key, n] : classes) {
    class_checks.Add(std::get<0>(key));
    class_minutes.Add(PgTime(absl::FromUnixSeconds(std::get<1>(key))));
    class_names.Add(std::get<2>(key));
    counts.Add(absl::StrCat(n));
  }
  return ExecPrepared(kRollupMinuteClass,
                      {batch.region(), class_checks.Done(), class_minutes.Done(),
                       class_names.Done(), counts.Done()},
                      "update rollup_minute_class");
}

absl::Status Store::ExecPrepared(const PreparedStatement& statement,
                                 const std::vector<std::string>& params, absl::string_view what) {
  PGconn* c = conn_.get();
  if (prepared_.count(statement.name) == 0) {
    RETURN_IF_ERROR(Checked(c, PQprepare(c, statement.name, statement.sql, 0, nullptr),
                            absl::StrCat("prepare ", what), {PGRES_COMMAND_OK})
                        .status());
    prepared_.insert(statement.name);
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& v : params) {
    values.push_back(v.c_str());
  }
  return Checked(c,
                 PQexecPrepared(c, statement.name, static_cast<int>(values.size()), values.data(),
                                nullptr, nullptr, /*resultFormat=*/0),
                 what, {PGRES_COMMAND_OK, PGRES_TUPLES_OK})
      .status();
}

absl::StatusOr<std::vector<v1::AvailabilityRow>> Store::Availability(
    absl::Time from, absl::Time to, const std::string& check_filter,
    const std::string& region_filter) {
  // Minute buckets that overlap [from, to).
  const std::string lo = PgTime(MinuteOf(from));
  const std::string hi = PgTime(to);
  static constexpr char kSql[] = R"sql(
WITH m AS (
  SELECT check_id, region,
         (array_agg(service ORDER BY minute DESC))[1] AS service,
         sum(probes)::bigint AS probes,
         sum(failures)::bigint AS failures,
         max(last_result) AS last_result
  FROM rollup_minute
  WHERE minute >= $1::timestamptz AND minute < $2::timestamptz
    AND ($3::text = '' OR check_id = $3::text)
    AND ($4::text = '' OR region = $4::text)
  GROUP BY check_id, region
), c AS (
  SELECT DISTINCT ON (check_id, region) check_id, region, failure_class
  FROM (
    SELECT check_id, region, failure_class, sum(n) AS n
    FROM rollup_minute_class
    WHERE minute >= $1::timestamptz AND minute < $2::timestamptz
      AND ($3::text = '' OR check_id = $3::text)
      AND ($4::text = '' OR region = $4::text)
      AND failure_class <> 'OK'
    GROUP BY check_id, region, failure_class
  ) per_class
  ORDER BY check_id, region, (failure_class = 'PROBER_ERROR'), n DESC, failure_class
)
SELECT m.check_id, m.service, m.region, m.probes, m.failures,
       (extract(epoch FROM m.last_result) * 1000000)::bigint,
       coalesce(c.failure_class, '')
FROM m LEFT JOIN c USING (check_id, region)
ORDER BY m.check_id COLLATE "C", m.region COLLATE "C"
)sql";
  ASSIGN_OR_RETURN(
      PgResultPtr res,
      ExecParams(conn_.get(), kSql, {lo, hi, check_filter, region_filter}, "availability query"));
  std::vector<v1::AvailabilityRow> rows;
  rows.reserve(PQntuples(res.get()));
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    v1::AvailabilityRow row;
    row.set_check_id(PQgetvalue(res.get(), i, 0));
    row.set_service(PQgetvalue(res.get(), i, 1));
    row.set_region(PQgetvalue(res.get(), i, 2));
    uint64_t probes = 0, failures = 0;
    int64_t last_us = 0;
    if (!absl::SimpleAtoi(PQgetvalue(res.get(), i, 3), &probes) ||
        !absl::SimpleAtoi(PQgetvalue(res.get(), i, 4), &failures) ||
        !absl::SimpleAtoi(PQgetvalue(res.get(), i, 5), &last_us)) {
      return absl::InternalError("availability query: unexpected number format");
    }
    row.set_probes(probes);
    row.set_failures(failures);
    row.set_availability(probes == 0 ? 100.0
                                     : 100.0 * static_cast<double>(probes - failures) /
                                           static_cast<double>(probes));
    v1::FailureClass::Code code = v1::FailureClass::UNSPECIFIED;
    v1::FailureClass::Code_Parse(PQgetvalue(res.get(), i, 6), &code);
    row.set_top_failure_class(code);
    row.mutable_last_result()->set_seconds(last_us >= 0 ? last_us / 1000000
                                                        : -((-last_us + 999999) / 1000000));
    row.mutable_last_result()->set_nanos(
        static_cast<int32_t>((last_us - row.last_result().seconds() * 1000000) * 1000));
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<std::vector<v1::DataGap>> Store::Gaps(absl::Time from, absl::Time to,
                                                     const std::string& region_filter) {
  ASSIGN_OR_RETURN(PgResultPtr res,
                   ExecParams(conn_.get(),
                              "SELECT prober_id, region, sum(results)::bigint,"
                              " extract(epoch FROM min(from_time))::bigint,"
                              " extract(epoch FROM max(to_time))::bigint"
                              " FROM gaps WHERE to_time >= $1::timestamptz"
                              " AND from_time < $2::timestamptz"
                              " AND ($3::text = '' OR region = $3::text)"
                              " GROUP BY prober_id, region ORDER BY region, prober_id",
                              {PgTime(from), PgTime(to), region_filter}, "gaps query"));
  std::vector<v1::DataGap> gaps;
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    v1::DataGap g;
    g.set_prober_id(PQgetvalue(res.get(), i, 0));
    g.set_region(PQgetvalue(res.get(), i, 1));
    uint64_t results = 0;
    int64_t a = 0, b = 0;
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 2), &results);
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 3), &a);
    absl::SimpleAtoi(PQgetvalue(res.get(), i, 4), &b);
    g.set_results(results);
    g.mutable_from()->set_seconds(a);
    g.mutable_to()->set_seconds(b);
    gaps.push_back(std::move(g));
  }
  return gaps;
}

// ---- StorePool ----

void StorePool::Returner::operator()(Store* store) const {
  if (pool != nullptr) {
    pool->Release(store);
  } else {
    delete store;
  }
}

StorePool::StorePool(std::string conninfo, StoreOptions options, size_t max_idle)
    : conninfo_(std::move(conninfo)), options_(options), max_idle_(max_idle) {}

StorePool::~StorePool() = default;

absl::StatusOr<StorePool::Lease> StorePool::Acquire() {
  {
    absl::MutexLock l(&mu_);
    // After a PostgreSQL restart every idle connection is dead; lending one
    // would fail a batch (and push its prober into backoff) for nothing.
    while (!idle_.empty()) {
      std::unique_ptr<Store> store = std::move(idle_.back());
      idle_.pop_back();
      if (store->CheckIdleConnection()) {
        return Lease(store.release(), Returner{this});
      }
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Connect(conninfo_, options_));
  return Lease(store.release(), Returner{this});
}

void StorePool::Release(Store* raw) {
  std::unique_ptr<Store> store(raw);
  if (store->healthy() && store->idle()) {
    absl::MutexLock l(&mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(std::move(store));
    }
  }
  // A Store not kept closes here, outside the lock.
}

size_t StorePool::idle_count() const {
  absl::MutexLock l(&mu_);
  return idle_.size();
}

}  // namespace sonde::collector
