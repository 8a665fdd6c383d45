#include "collector/api/prober_vitals.h"

#include <algorithm>
#include <tuple>

#include "common/proto_time.h"
#include "common/text/safe_text.h"

namespace sonde::collector {

void ProberVitals::Seen(const v1::ResultBatch& batch, absl::Time now) {
  absl::MutexLock l(&mu_);
  Entry& e = probers_[batch.prober_id()];
  e.region = batch.region();
  e.last_seen = now;
  if (batch.has_prober_status()) {
    e.status = batch.prober_status();
    // Prober-supplied text shown in a terminal table: made safe and capped.
    e.status.set_version(SafeText(e.status.version(), kMaxProberVersionBytes));
  }
}

void ProberVitals::MergeInto(std::vector<v1::ProberConfigStatus>* probers) const {
  absl::MutexLock l(&mu_);
  std::map<std::string, v1::ProberConfigStatus*> by_id;
  for (v1::ProberConfigStatus& p : *probers) {
    by_id[p.prober_id()] = &p;
  }
  std::vector<v1::ProberConfigStatus> extra;
  for (const auto& [id, e] : probers_) {
    v1::ProberConfigStatus* p;
    if (auto it = by_id.find(id); it != by_id.end()) {
      p = it->second;
    } else {
      p = &extra.emplace_back();
      p->set_prober_id(id);
      p->set_region(e.region);
    }
    *p->mutable_status() = e.status;
    common::SetTimestamp(e.last_seen, p->mutable_last_seen());
  }
  if (extra.empty()) {
    return;
  }
  for (v1::ProberConfigStatus& p : extra) {
    probers->push_back(std::move(p));
  }
  std::stable_sort(probers->begin(), probers->end(), [](const auto& a, const auto& b) {
    return std::tie(a.region(), a.prober_id()) < std::tie(b.region(), b.prober_id());
  });
}

}  // namespace sonde::collector
