// Text that came from outside — bytes of a target's answer, fields a prober
// sends, values a browser posts — made safe to keep and to show. Protobuf
// `string` fields, PostgreSQL and JSON need valid UTF-8; terminals and log
// lines must not receive control characters (a newline forges a log line, an
// ESC sequence rewrites the operator's screen). Every place where outside text
// enters a result, a log line or terminal output goes through SafeText; the
// storage layer uses IsCleanUtf8/SanitizeUtf8 for its cheap check-then-copy.
// Pure functions; any thread.
#ifndef SONDE_COMMON_TEXT_SAFE_TEXT_H_
#define SONDE_COMMON_TEXT_SAFE_TEXT_H_

#include <cstddef>
#include <limits>
#include <string>

#include "absl/strings/string_view.h"

namespace sonde {

// The cap for one target-derived field of a result (detail, banner, reply
// line, answer): enough to diagnose, small enough that 500 results of a batch
// stay far below the batch byte cap.
inline constexpr size_t kTargetTextMaxBytes = 1024;

// True when `s` is valid UTF-8 (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF) without NUL bytes.
bool IsCleanUtf8(absl::string_view s);

// Returns `in` as valid UTF-8 without NUL bytes: each byte that does not start
// a well-formed sequence becomes U+FFFD, NUL bytes are dropped. Keeps control
// characters (storage wants the bytes, not a display form).
std::string SanitizeUtf8(absl::string_view in);

// Returns `in` safe to store and to show:
//  - a byte that does not start well-formed UTF-8 becomes `\xNN`;
//  - control characters (C0, DEL and the C1 range U+0080..U+009F) are escaped:
//    `\n`, `\r`, `\t`, and `\xNN` / `\u00NN` for the others;
//  - when the escaped text exceeds `max_bytes`, it is cut at a character
//    boundary and ends with "…" (the result is at most `max_bytes` bytes).
// Text that is already printable UTF-8 is returned unchanged.
std::string SafeText(absl::string_view in, size_t max_bytes = std::numeric_limits<size_t>::max());

// SafeText(in, max_bytes) into `*out`, whose capacity is reused: for a field
// set on every run (a pooled result's detail). `in` must not view `*out`.
void AssignSafeText(absl::string_view in, size_t max_bytes, std::string* out);

}  // namespace sonde

#endif  // SONDE_COMMON_TEXT_SAFE_TEXT_H_
