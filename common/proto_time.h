// The one place where protobuf's Timestamp and Duration meet absl::Time and
// absl::Duration. Everything that reads or writes a proto time goes through
// these; an unset Timestamp (0 s, 0 ns) reads as the Unix epoch, so callers
// that must tell "unset" apart use IsSet(). A Timestamp from outside may hold
// any int64 seconds: IsValidTimestamp() says whether it lies in the range
// protobuf defines (0001-01-01..9999-12-31), and ToUnixMicros clamps into
// that range, so INT64_MAX never overflows. Header-only, pure, thread-safe.
#ifndef SONDE_COMMON_PROTO_TIME_H_
#define SONDE_COMMON_PROTO_TIME_H_

#include <algorithm>
#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace sonde::common {

// The range protobuf defines for a Timestamp (PostgreSQL's timestamptz
// covers it too).
inline constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z

inline bool IsValidTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= kMinTimestampSeconds && ts.seconds() <= kMaxTimestampSeconds &&
         ts.nanos() >= 0 && ts.nanos() <= 999'999'999;
}

inline absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// Microseconds since the Unix epoch, truncated toward negative infinity; a
// Timestamp outside the valid range is clamped into it first.
inline int64_t ToUnixMicros(const google::protobuf::Timestamp& ts) {
  const int64_t s = std::clamp(ts.seconds(), kMinTimestampSeconds, kMaxTimestampSeconds);
  const int32_t n = std::clamp(ts.nanos(), 0, 999'999'999);
  return s * 1'000'000 + n / 1000;
}

// A Timestamp's fields for `t`, to the nanosecond: seconds rounded down, so
// that nanos is in [0, 1e9). For encoders that write the fields themselves.
struct TimestampFields {
  int64_t seconds = 0;
  int32_t nanos = 0;
};
inline TimestampFields ToTimestampFields(absl::Time t) {
  const int64_t s = absl::ToUnixSeconds(t);
  return {s, static_cast<int32_t>((t - absl::FromUnixSeconds(s)) / absl::Nanoseconds(1))};
}

// To the microsecond (truncated toward the past, like ToUnixMicros).
inline void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const TimestampFields f = ToTimestampFields(absl::FromUnixMicros(absl::ToUnixMicros(t)));
  out->set_seconds(f.seconds);
  out->set_nanos(f.nanos);
}

inline void SetTimestampMicros(int64_t us, google::protobuf::Timestamp* out) {
  SetTimestamp(absl::FromUnixMicros(us), out);
}

inline bool IsSet(const google::protobuf::Timestamp& ts) {
  return ts.seconds() != 0 || ts.nanos() != 0;
}

inline absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

inline void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_PROTO_TIME_H_
