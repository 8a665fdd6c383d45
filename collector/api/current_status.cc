#include "collector/api/current_status.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "collector/cluster/shards.h"
#include "collector/incidents/incident_store.h"
#include "common/proto_time.h"
#include "common/text/safe_text.h"

namespace sonde::collector {
namespace {

using detect::RegionState;

constexpr char kRedacted[] = "REDACTED";

// Lower is more broken; the order of StatusReply.statuses.
int Rank(const std::string& state) {
  static constexpr const char* kOrder[] = {"DOWN", "FLAPPING", "DEGRADED", "STALE", "NO_DATA"};
  for (int i = 0; i < static_cast<int>(std::size(kOrder)); ++i) {
    if (state == kOrder[i]) {
      return i;
    }
  }
  return static_cast<int>(std::size(kOrder));  // UP
}

bool Lists(const std::vector<std::string>& sorted, const std::string& name) {
  return std::binary_search(sorted.begin(), sorted.end(), name);
}

bool Covers(const detect::Incident& i, const DetectionRunner::SeriesView& s) {
  const bool check = i.checks.empty() ? i.service == s.service : Lists(i.checks, s.check);
  return check && (i.regions.empty() || Lists(i.regions, s.region));
}

// "https://user:secret@host/x" -> "https://REDACTED@host/x".
std::string RedactUserInfo(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) {
    return url;
  }
  const size_t start = scheme + 3;
  const size_t end = url.find_first_of("/?#", start);
  const size_t at = url.rfind('@', end == std::string::npos ? std::string::npos : end - 1);
  if (at == std::string::npos || at < start) {
    return url;
  }
  return url.substr(0, start) + kRedacted + url.substr(at);
}

void Redact(v1::Check* check) {
  if (!check->has_http()) {
    return;
  }
  v1::HttpSpec* http = check->mutable_http();
  for (auto& header : *http->mutable_headers()) {
    header.second = kRedacted;
  }
  if (!http->body().empty()) {
    http->set_body(kRedacted);
  }
  http->set_url(RedactUserInfo(http->url()));
}

// Adds `rows` to `reply` broken first (see BuildStatusReply).
void AddSorted(std::vector<v1::CheckRegionStatus> rows, v1::StatusReply* reply) {
  auto key = [](const v1::CheckRegionStatus& r) {
    return std::make_tuple(Rank(r.state()), r.incident_ids().empty(), std::cref(r.service()),
                           std::cref(r.check()), std::cref(r.region()));
  };
  std::sort(rows.begin(), rows.end(),
            [&](const v1::CheckRegionStatus& a, const v1::CheckRegionStatus& b) {
              return key(a) < key(b);
            });
  for (v1::CheckRegionStatus& r : rows) {
    *reply->add_statuses() = std::move(r);
  }
}

}  // namespace

std::string StatusStateName(const detect::SeriesStatus& status) {
  return status.state == RegionState::kUnknown ? "NO_DATA" : detect::RegionStateName(status.state);
}

v1::StatusReply BuildStatusReply(const DetectionRunner::Snapshot& snapshot, absl::Time now) {
  v1::StatusReply reply;
  common::SetTimestamp(now, reply.mutable_as_of());
  std::vector<v1::CheckRegionStatus> rows;
  rows.reserve(snapshot.series.size());
  for (const DetectionRunner::SeriesView& s : snapshot.series) {
    v1::CheckRegionStatus row;
    row.set_check(s.check);
    row.set_service(s.service);
    row.set_region(s.region);
    row.set_state(StatusStateName(s.status));
    const detect::SeriesStatus& st = s.status;
    if (st.last_result != absl::InfinitePast()) {
      common::SetTimestamp(st.last_result, row.mutable_last_result());
      row.set_failure_class(st.last_run_failed ? st.last_failure_class : v1::FailureClass::OK);
    }
    if (st.last_failure != absl::InfinitePast()) {
      common::SetTimestamp(st.last_failure, row.mutable_last_failure());
      row.set_last_failure_class(st.last_failure_class);
      row.set_last_failure_detail(SafeText(st.last_failure_detail, kTargetTextMaxBytes));
    }
    for (const detect::Incident& i : snapshot.open) {
      if (Covers(i, s)) {
        row.add_incident_ids(i.id);
      }
    }
    rows.push_back(std::move(row));
  }
  AddSorted(std::move(rows), &reply);
  std::vector<const detect::Incident*> open;
  for (const detect::Incident& i : snapshot.open) {
    open.push_back(&i);
  }
  std::sort(open.begin(), open.end(), [](const detect::Incident* a, const detect::Incident* b) {
    return std::tie(b->opened_at, b->id) < std::tie(a->opened_at, a->id);
  });
  for (const detect::Incident* i : open) {
    *reply.add_open_incidents() = ToProto(*i);
  }
  return reply;
}

v1::StatusReply MergeShardStatus(const std::map<int, const v1::StatusReply*>& shards,
                                 const v1::Config& config, const v1::StatusRequest& request,
                                 absl::Time now) {
  v1::StatusReply reply;
  common::SetTimestamp(now, reply.mutable_as_of());
  // Per shard: (check, region) -> its published row.
  std::map<int, std::map<std::pair<std::string, std::string>, const v1::CheckRegionStatus*>>
      published;
  for (const auto& [shard, status] : shards) {
    auto& index = published[shard];
    for (const v1::CheckRegionStatus& row : status->statuses()) {
      index[{row.check(), row.region()}] = &row;
    }
  }
  std::vector<v1::CheckRegionStatus> rows;
  for (const v1::Check& c : config.checks()) {
    if ((!request.service().empty() && c.service() != request.service()) ||
        (!request.check().empty() && c.name() != request.check())) {
      continue;
    }
    auto index = published.find(cluster::ShardOf(c));
    for (const std::string& r : c.regions().empty() ? config.regions() : c.regions()) {
      if (!request.region().empty() && r != request.region()) {
        continue;
      }
      const v1::CheckRegionStatus* row = nullptr;
      if (index != published.end()) {
        auto it = index->second.find({c.name(), r});
        row = it == index->second.end() ? nullptr : it->second;
      }
      if (row != nullptr && row->service() == c.service()) {
        rows.push_back(*row);
        continue;
      }
      v1::CheckRegionStatus none;  // the shard's owner has not published it
      none.set_check(c.name());
      none.set_service(c.service());
      none.set_region(r);
      none.set_state("NO_DATA");
      rows.push_back(std::move(none));
    }
  }
  AddSorted(std::move(rows), &reply);
  std::vector<const v1::Incident*> open;
  for (const auto& [shard, status] : shards) {
    for (const v1::Incident& i : status->open_incidents()) {
      open.push_back(&i);
    }
  }
  auto newest_first = [](const v1::Incident* a, const v1::Incident* b) {
    const absl::Time ta = common::ToTime(a->opened_at()), tb = common::ToTime(b->opened_at());
    return std::tie(tb, b->id()) < std::tie(ta, a->id());
  };
  std::sort(open.begin(), open.end(), newest_first);
  for (const v1::Incident* i : open) {
    *reply.add_open_incidents() = *i;
  }
  return reply;
}

v1::ChecksReply BuildChecksReply(const v1::Config& config, const v1::ChecksRequest& request) {
  v1::ChecksReply reply;
  *reply.mutable_regions() = config.regions();
  std::vector<const v1::Check*> checks;
  for (const v1::Check& c : config.checks()) {
    if ((request.service().empty() || c.service() == request.service()) &&
        (request.check().empty() || c.name() == request.check())) {
      checks.push_back(&c);
    }
  }
  std::sort(checks.begin(), checks.end(), [](const v1::Check* a, const v1::Check* b) {
    return std::tie(a->service(), a->name()) < std::tie(b->service(), b->name());
  });
  for (const v1::Check* c : checks) {
    v1::Check* out = reply.add_checks();
    *out = *c;
    if (out->regions().empty()) {
      *out->mutable_regions() = config.regions();
    }
    Redact(out);
  }
  return reply;
}

}  // namespace sonde::collector
