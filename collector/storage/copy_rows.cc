#include "collector/storage/copy_rows.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/extra_json.h"
#include "collector/storage/pg/pg.h"
#include "common/status_macros.h"
#include "common/text/byte_scan.h"

namespace sonde::collector {
namespace {

constexpr size_t kCopyChunkBytes = 1 << 20;

constexpr char kCopyResults[] =
    "COPY results (prober_id, seq, check_id, service, kind, region, "
    "started_at, ok, "
    "failure_class, detail, dns_us, connect_us, tls_us, first_byte_us, "
    "total_us, target, "
    "resolved_address, http_status, request_index, tls_version, "
    "cert_not_after, "
    "cert_days_left, dns_rcode, banner, extra) FROM STDIN";

// proto uint32 -> SQL integer without overflowing it.
int64_t ClampInt32(uint64_t v) {
  return static_cast<int64_t>(std::min<uint64_t>(v, std::numeric_limits<int32_t>::max()));
}

void AppendField(absl::string_view value, std::string* out) {
  AppendCopyField(value, out);
  out->push_back('\t');
}

void AppendNumber(int64_t value, std::string* out) { absl::StrAppend(out, value, "\t"); }

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
      not_after > absl::FromUnixSeconds(kMinPgSeconds) &&
      not_after < absl::FromUnixSeconds(kMaxPgSeconds);
  if (has_cert) {
    AppendField(PgTime(not_after), out);
    AppendNumber(r.cert_days_left(), out);
  } else {
    out->append("\\N\t\\N\t");
  }
  AppendField(r.dns_rcode(), out);
  AppendField(r.banner(), out);

  AppendResultJsonCopyField(r, out);
  out->push_back('\n');
}

}  // namespace

std::string ClassName(v1::FailureClass::Code code) {
  const std::string& name = v1::FailureClass::Code_Name(code);
  return name.empty() ? absl::StrCat(static_cast<int>(code)) : name;
}

const char* CopyResultsStatement() { return kCopyResults; }

void AppendCopyRow(const v1::ResultBatch& batch, const v1::ProbeResult& result, std::string* out) {
  AppendResultRow(batch, result, out);
}

void AppendCopyField(absl::string_view value, std::string* out) {
  // Runs of plain bytes are appended whole, stepping 8 bytes at a time over
  // words without a byte below 14 (NUL, tab, newline, carriage return among
  // them) or a backslash: this runs for every field of every stored result.
  size_t plain = 0;
  size_t i = 0;
  while (i < value.size()) {
    if (i + 8 <= value.size()) {
      const uint64_t w = text::LoadWord(value.data() + i);
      if (!text::HasByteBelow(w, 14) && !text::HasByte(w, '\\')) {
        i += 8;
        continue;
      }
    }
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
        ++i;
        continue;
    }
    out->append(value.data() + plain, i - plain);
    out->append(escaped);
    plain = ++i;
  }
  out->append(value.data() + plain, value.size() - plain);
}

absl::Status CopyResults(PGconn* c, const v1::ResultBatch& batch) {
  RETURN_IF_ERROR(pg::StartCopyIn(c, kCopyResults, "start COPY results"));
  std::string buf;
  buf.reserve(kCopyChunkBytes + 64 * 1024);
  absl::Status st;
  for (const v1::ProbeResult& r : batch.results()) {
    AppendResultRow(batch, r, &buf);
    if (buf.size() >= kCopyChunkBytes) {
      st = pg::PutCopyData(c, buf, "COPY results");
      buf.clear();
      if (!st.ok()) {
        break;
      }
    }
  }
  if (st.ok() && !buf.empty()) {
    st = pg::PutCopyData(c, buf, "COPY results");
  }
  // Ends the COPY either way and reads its outcome, so the connection is
  // usable (or known dead) afterwards.
  absl::Status ended = pg::EndCopyIn(c, st.ok() ? nullptr : "sonde: aborted", "COPY results");
  return st.ok() ? ended : st;
}

}  // namespace sonde::collector
