#include "sondectl/status.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "sondectl/columns.h"

namespace sonde::sondectl {
namespace {

std::string Or(const std::string& s, const char* none) { return s.empty() ? none : s; }

// A duration for the table: whole seconds from 1 s on, milliseconds below.
std::string Short(absl::Duration d) {
  return absl::FormatDuration(
      absl::Trunc(d, d >= absl::Seconds(1) ? absl::Seconds(1) : absl::Milliseconds(1)));
}

// "<bytes> B <n> unacked" and, when any is unacked, the oldest one's age
// when the prober sent the status.
std::string Spool(const v1::ProberStatus& s) {
  std::string out = absl::StrCat(s.spool_bytes(), " B ", s.unacked_results(), " unacked");
  if (s.unacked_results() > 0) {
    absl::StrAppend(&out, " oldest ", Short(common::ToDuration(s.oldest_unacked_age())));
  }
  return out;
}

}  // namespace

std::string FormatProbersTable(const v1::ProbersReply& reply, absl::Time now) {
  if (reply.probers().empty()) {
    return "no probers\n";
  }
  std::vector<std::vector<std::string>> rows = {
      {"PROBER", "REGION", "VERSION", "LAST-SEEN", "LATENESS", "SPOOL", "STREAM", "APPLIED",
       "REGION-VERSION", "PENDING", "LAST-TRANSFER", "FAILURES", "LAST-ERROR"}};
  for (const v1::ProberConfigStatus& p : reply.probers()) {
    std::string pending = "-";
    if (common::IsSet(p.pending_since())) {
      pending = absl::FormatDuration(
          absl::Trunc(now - common::ToTime(p.pending_since()), absl::Seconds(1)));
    }
    std::string transfer = Or(p.last_transfer(), "-");
    if (!p.last_transfer().empty()) {
      absl::StrAppend(&transfer, " ", p.last_transfer_bytes(), " B");
    }
    // From its result batches; "-" until the collector has one.
    std::string last_seen = "-", lateness = "-", spool = "-";
    if (common::IsSet(p.last_seen())) {
      last_seen = absl::StrCat(Short(now - common::ToTime(p.last_seen())), " ago");
    }
    if (p.has_status()) {
      lateness = Short(common::ToDuration(p.status().lateness_p99()));
      spool = Spool(p.status());
    }
    rows.push_back({p.prober_id(), p.region(), Or(p.status().version(), "-"), last_seen, lateness,
                    spool, p.connected() ? "up" : "down", Or(p.applied_version(), "-"),
                    Or(p.region_version(), "-"), pending, transfer,
                    absl::StrCat(p.delivery_failures()), Or(p.last_error(), "-")});
  }
  return AlignColumns(rows);
}

// "-" for none, else the count and the shards as ranges: "3 (0-1,7)".
std::string ShardList(const v1::CollectorMember& m) {
  if (m.shards().empty()) {
    return "-";
  }
  std::string ranges;
  for (int i = 0; i < m.shards_size();) {
    int j = i;
    while (j + 1 < m.shards_size() && m.shards(j + 1) == m.shards(j) + 1) {
      ++j;
    }
    absl::StrAppend(&ranges, ranges.empty() ? "" : ",", m.shards(i));
    if (j > i) {
      absl::StrAppend(&ranges, "-", m.shards(j));
    }
    i = j + 1;
  }
  return absl::StrCat(m.shards_size(), " (", ranges, ")");
}

std::string FormatCollectorsTable(const v1::CollectorsReply& reply) {
  if (reply.members().empty()) {
    return "no collector replicas recorded (the answering collector has not completed a "
           "heartbeat yet)\n";
  }
  const absl::Time as_of = common::ToTime(reply.as_of());
  std::string out =
      reply.recorded_config_version().empty()
          ? "config version for detection: none recorded (no replica runs with --config)\n"
          : absl::StrCat("config version for detection: ", reply.recorded_config_version(),
                         " (recorded by ", reply.recorded_by(), ", ",
                         Short(as_of - common::ToTime(reply.recorded_at())), " ago)\n");
  absl::StrAppend(&out, "notification scheduler: ", Or(reply.notify_scheduler(), "none"), "\n");
  std::vector<std::vector<std::string>> rows = {{"REPLICA", "ADDRESS", "STATE", "SOFTWARE",
                                                 "CONFIG", "IN-STEP", "SHARDS", "UP", "LAST-SEEN"}};
  for (const v1::CollectorMember& m : reply.members()) {
    const char* in_step = m.config_version().empty() ? "-" : (m.in_step() ? "yes" : "NO");
    rows.push_back({absl::StrCat(m.replica_id(), m.replica_id() == reply.answered_by() ? " *" : ""),
                    m.address(), m.live() ? "live" : "gone", Or(m.software_version(), "-"),
                    Or(m.config_version(), "-"), in_step, ShardList(m),
                    Short(as_of - common::ToTime(m.started_at())),
                    absl::StrCat(Short(as_of - common::ToTime(m.last_seen())), " ago")});
  }
  return out + AlignColumns(rows);
}

}  // namespace sonde::sondectl
