#include "tests/scenarios/replay_oracle.h"

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/detect/detector.h"
#include "collector/detect/options.h"
#include "common/config/config.h"
#include "common/proto_time.h"
#include "google/protobuf/util/json_util.h"

namespace sonde::scenarios {
namespace {

// The runner's tick period (collector/incidents/detection.h).
constexpr absl::Duration kTick = absl::Milliseconds(250);

absl::Time EventTime(const v1::ProbeResult& r) {
  return common::ToTime(r.start_time()) + absl::Microseconds(r.total_us());
}

}  // namespace

bool IncidentScope::operator<(const IncidentScope& o) const {
  return std::tie(service, opened_kind, regions, kind) <
         std::tie(o.service, o.opened_kind, o.regions, o.kind);
}

bool IncidentScope::operator==(const IncidentScope& o) const {
  return std::tie(service, opened_kind, regions, kind) ==
         std::tie(o.service, o.opened_kind, o.regions, o.kind);
}

std::string IncidentScope::ToString() const {
  return absl::StrCat(service, ": opened ", opened_kind, " [", absl::StrJoin(regions, ","),
                      "], now ", kind);
}

void PrintTo(const IncidentScope& scope, std::ostream* os) { *os << scope.ToString(); }

absl::StatusOr<ReplayOutcome> ReplayStoredResults(testing::Db& db, const std::string& config_path,
                                                  absl::Time cutoff) {
  absl::StatusOr<v1::Config> config = common::LoadConfigFile(config_path);
  if (!config.ok()) {
    return config.status();
  }
  // Prober id, region and check come from the row's columns (the stream's
  // proven identity), the rest from the stored ProbeResult.
  absl::StatusOr<testing::Db::Rows> rows = db.Query(
      "SELECT prober_id, region, check_id, extra::text FROM results"
      " ORDER BY started_at + total_us * interval '1 microsecond', prober_id, seq");
  if (!rows.ok()) {
    return rows.status();
  }
  std::vector<v1::ProbeResult> results;
  results.reserve(rows->size());
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  for (const auto& row : *rows) {
    v1::ProbeResult r;
    if (auto st = google::protobuf::util::JsonStringToMessage(row[3], &r, lenient); !st.ok()) {
      return absl::DataLossError(absl::StrCat("results.extra is not a ProbeResult: ", row[3]));
    }
    r.set_prober_id(row[0]);
    r.set_region(row[1]);
    r.set_check_id(row[2]);
    results.push_back(std::move(r));
  }
  ReplayOutcome out;
  out.results = static_cast<int64_t>(results.size());
  if (results.empty()) {
    return out;
  }

  // As DetectionRunner::Start: the config's `detection:` over the defaults.
  absl::StatusOr<std::unique_ptr<detect::Detector>> detector =
      detect::Detector::Create(detect::WithConfig({}, config->detection()));
  if (!detector.ok()) {
    return detector.status();
  }
  detect::Detector& d = **detector;
  const absl::Time first = common::ToTime(results.front().start_time());
  if (absl::Status st = d.SetConfig(*config, first); !st.ok()) {
    return st;
  }
  // Results are handed over as their event time passes, ticks every 250 ms
  // of event time: the runner's pace without its waiting.
  std::map<std::string, IncidentScope> scopes;  // by incident id
  auto record = [&](const std::vector<detect::IncidentEvent>& events) {
    for (const detect::IncidentEvent& e : events) {
      absl::StrAppend(&out.events, detect::DebugString(e), "\n");
      if (e.at > cutoff) {
        continue;
      }
      IncidentScope& s = scopes[e.incident_id];
      if (e.kind == detect::IncidentEventKind::kOpened) {
        s.service = e.incident.service;
        s.opened_kind = detect::IncidentKindName(e.incident.kind);
        s.regions = e.incident.regions;
        std::sort(s.regions.begin(), s.regions.end());
      }
      s.kind = detect::IncidentKindName(e.incident.kind);
    }
  };
  size_t next = 0;
  const absl::Time end = cutoff + d.options().reorder_window + absl::Seconds(1);
  for (absl::Time now = first; now <= end; now += kTick) {
    while (next < results.size() && EventTime(results[next]) <= now) {
      d.Observe(results[next++]);
    }
    record(d.Tick(now));
  }
  const detect::DetectorStats st = d.stats();
  out.stats = absl::StrCat("observed=", st.results_observed, " applied=", st.results_applied,
                           " late=", st.late_results, " duplicate=", st.duplicate_results,
                           " unknown_check=", st.unknown_check,
                           " unknown_region=", st.unknown_region, " pending=", st.pending,
                           " not replayed (after the", " last tick)=", results.size() - next,
                           " processed_until=", absl::FormatTime(d.processed_until()));
  for (const auto& [id, scope] : scopes) {
    out.incidents.push_back(scope);
  }
  std::sort(out.incidents.begin(), out.incidents.end());
  return out;
}

std::vector<IncidentScope> StoredScopes(Scenario& scenario, absl::Time cutoff) {
  std::vector<IncidentScope> out;
  for (const IncidentRow& row : scenario.Incidents()) {
    IncidentScope s;
    s.service = row.service;
    for (const EventRow& e : scenario.Events(row.id)) {
      if (e.at > cutoff) {
        continue;  // ordered by id, not by time: NOTIFIED rows carry the delivery's
      }
      if (e.kind == "OPENED") {
        s.opened_kind = e.incident_kind;
        s.regions = e.regions;
        std::sort(s.regions.begin(), s.regions.end());
      }
      s.kind = e.incident_kind;
    }
    if (!s.opened_kind.empty()) {
      out.push_back(std::move(s));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sonde::scenarios
