#include "collector/notify/incident_row.h"

#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/proto_time.h"

namespace sonde::notify {

// Incident columns in the order IncidentFromRow reads them. Arrays come as
// text joined by the unit separator, times as Unix microseconds.
const char kIncidentColumns[] =
    "i.id, i.kind, i.severity, i.service,"
    " array_to_string(i.checks, chr(31)), array_to_string(i.regions, chr(31)),"
    " array_to_string(i.hosts, chr(31)), i.protocol, i.failure_class,"
    " i.failing_share, i.latency_phase, i.latency_p95_ms,"
    " i.latency_baseline_p95_ms, i.affected_targets, i.recovered_targets,"
    " i.evidence,"
    " floor(extract(epoch FROM i.opened_at) * 1000000)::bigint,"
    " floor(extract(epoch FROM i.updated_at) * 1000000)::bigint,"
    " floor(extract(epoch FROM i.resolved_at) * 1000000)::bigint,"
    " floor(extract(epoch FROM i.acknowledged_at) * 1000000)::bigint,"
    " coalesce(i.acknowledged_by, ''), i.in_maintenance";

namespace {

void SplitInto(const char* joined, google::protobuf::RepeatedPtrField<std::string>* out) {
  if (joined == nullptr || joined[0] == '\0') {
    return;
  }
  for (absl::string_view part : absl::StrSplit(joined, '\x1f')) {
    out->Add(std::string(part));
  }
}

}  // namespace

v1::Incident IncidentFromRow(const PGresult* r, int row) {
  auto text = [r, row](int col) { return PQgetvalue(r, row, col); };
  auto null = [r, row](int col) { return PQgetisnull(r, row, col) != 0; };
  auto micros = [&](int col) {
    int64_t v = 0;
    (void)absl::SimpleAtoi(text(col), &v);
    return v;
  };
  auto dbl = [&](int col) {
    double v = 0;
    (void)absl::SimpleAtod(text(col), &v);
    return v;
  };
  auto i32 = [&](int col) {
    int32_t v = 0;
    (void)absl::SimpleAtoi(text(col), &v);
    return v;
  };
  v1::Incident inc;
  inc.set_id(text(0));
  inc.set_kind(text(1));
  inc.set_severity(text(2));
  inc.set_service(text(3));
  SplitInto(text(4), inc.mutable_checks());
  SplitInto(text(5), inc.mutable_regions());
  SplitInto(text(6), inc.mutable_hosts());
  inc.set_protocol(text(7));
  v1::FailureClass::Code fc = v1::FailureClass::UNSPECIFIED;
  if (v1::FailureClass::Code_Parse(text(8), &fc)) {
    inc.set_failure_class(fc);
  }
  inc.set_failing_share(dbl(9));
  inc.set_latency_phase(text(10));
  inc.set_latency_p95_ms(dbl(11));
  inc.set_latency_baseline_p95_ms(dbl(12));
  inc.set_affected_targets(i32(13));
  inc.set_recovered_targets(i32(14));
  inc.set_evidence(text(15));
  common::SetTimestampMicros(micros(16), inc.mutable_opened_at());
  common::SetTimestampMicros(micros(17), inc.mutable_updated_at());
  if (!null(18)) {
    common::SetTimestampMicros(micros(18), inc.mutable_resolved_at());
  }
  inc.set_status(null(18) ? "open" : "resolved");
  if (!null(19)) {
    common::SetTimestampMicros(micros(19), inc.mutable_acknowledged_at());
  }
  inc.set_acknowledged_by(text(20));
  inc.set_in_maintenance(text(21)[0] == 't');
  return inc;
}

}  // namespace sonde::notify
