#include "collector/incidents/detection.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/detect/kinds.h"
#include "common/proto_time.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

constexpr absl::Duration kTickPeriod = absl::Milliseconds(250);
// A moved promise ticks at once, but no sooner than this after the last tick.
constexpr absl::Duration kMinTickGap = absl::Milliseconds(20);
// A prober not heard from for this long no longer holds detection back (nor
// vouches for its region).
constexpr absl::Duration kPromiseForget = absl::Minutes(10);
constexpr absl::Duration kRetryPeriod = absl::Seconds(1);
// Events kept in memory while PostgreSQL is down; beyond that the oldest
// are dropped (logged). At a few events per incident change this is hours.
constexpr size_t kMaxWaiting = 100000;

}  // namespace

DetectionRunner::DetectionRunner(std::string conninfo, const common::Clock* clock)
    : clock_(clock), store_(std::move(conninfo)) {}

DetectionRunner::~DetectionRunner() { Stop(); }

absl::Status DetectionRunner::Start(const v1::Config& config) {
  detect::DetectorOptions options = detect::WithConfig({}, config.detection());
  auto detector = detect::Detector::Create(options);
  if (!detector.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("detection options: ", detector.status().message()));
  }
  if (absl::Status s = (*detector)->SetConfig(config, clock_->Now()); !s.ok()) {
    return s;
  }
  {
    absl::MutexLock lock(&mu_);
    detector_ = std::move(*detector);
    config_ = std::make_shared<const v1::Config>(config);
  }
  TryRestore();
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

// Until the open incidents of the previous run are restored, nothing is
// evaluated (results wait in the reorder queue): evaluating first would open
// a second incident for an outage that is already open.
void DetectionRunner::TryRestore() {
  auto open = store_.LoadOpen();
  if (!open.ok()) {
    if (restore_attempts_++ % 30 == 0) {
      spdlog::warn("detection: cannot read the open incidents yet ({}); detection waits",
                   open.status().ToString());
    }
    return;
  }
  absl::MutexLock lock(&mu_);
  detector_->RestoreIncidents(*open, clock_->Now());
  restored_ = true;
  spdlog::info("detection: {} checks, {} open incidents continued", config_->checks_size(),
               open->size());
}

void DetectionRunner::SetConfig(const v1::Config& config) {
  SetConfig(std::make_shared<const v1::Config>(config));
}

void DetectionRunner::SetConfig(std::shared_ptr<const v1::Config> shared) {
  const v1::Config& config = *shared;
  absl::MutexLock lock(&mu_);
  if (detector_ == nullptr) {
    return;
  }
  if (config.detection().SerializeAsString() != config_->detection().SerializeAsString()) {
    spdlog::warn("detection: the `detection:` block changed; it takes effect at the next restart");
  }
  if (absl::Status s = detector_->SetConfig(config, clock_->Now()); !s.ok()) {
    spdlog::error("detection: new config refused, keeping the old checks: {}", s.ToString());
    return;
  }
  config_ = std::move(shared);
}

void DetectionRunner::Observe(const v1::ResultBatch& batch) {
  bool moved = false;
  {
    absl::MutexLock lock(&mu_);
    if (detector_ == nullptr) {
      return;
    }
    for (const v1::ProbeResult& r : batch.results()) {
      if (r.region() == batch.region() && r.prober_id() == batch.prober_id()) {
        detector_->Observe(r);
      } else {
        v1::ProbeResult copy = r;
        copy.set_region(batch.region());
        copy.set_prober_id(batch.prober_id());
        detector_->Observe(copy);
      }
    }
    // After the results: the promise covers them.
    Promise& p = promises_[batch.prober_id()];
    p.region = batch.region();
    p.heard = clock_->Now();
    if (batch.has_complete_before()) {
      const absl::Time t = common::ToTime(batch.complete_before());
      moved = t > p.complete_before;
      p.complete_before = std::max(p.complete_before, t);
    }
  }
  if (moved) {
    absl::MutexLock lock(&wake_mu_);
    wake_ = true;
  }
}

absl::Time DetectionRunner::CompleteBefore(absl::Time now) {
  absl::Time least = absl::InfiniteFuture();
  std::set<std::string> vouched;
  for (auto it = promises_.begin(); it != promises_.end();) {
    if (now - it->second.heard > kPromiseForget) {
      it = promises_.erase(it);
      continue;
    }
    least = std::min(least, it->second.complete_before);
    vouched.insert(it->second.region);
    ++it;
  }
  for (const std::string& region : config_->regions()) {
    if (vouched.count(region) == 0) {
      return absl::InfinitePast();  // its results could come at any time
    }
  }
  return least == absl::InfiniteFuture() ? absl::InfinitePast() : least;
}

detect::DetectorStats DetectionRunner::detector_stats() const {
  absl::MutexLock lock(&mu_);
  return detector_ == nullptr ? detect::DetectorStats{} : detector_->stats();
}

DetectionRunner::Snapshot DetectionRunner::TakeSnapshot(const std::string& service,
                                                        const std::string& check,
                                                        const std::string& region) const {
  Snapshot out;
  absl::MutexLock lock(&mu_);
  if (detector_ == nullptr || config_ == nullptr) {
    return out;
  }
  for (const v1::Check& c : config_->checks()) {
    if ((!service.empty() && c.service() != service) || (!check.empty() && c.name() != check)) {
      continue;
    }
    // A loaded config names every check's regions (defaults filled in).
    for (const std::string& r : c.regions().empty() ? config_->regions() : c.regions()) {
      if (!region.empty() && r != region) {
        continue;
      }
      out.series.push_back({c.name(), c.service(), r, detector_->Status(c.name(), r)});
    }
  }
  out.open = detector_->OpenIncidents();
  return out;
}

std::vector<std::pair<std::string, int>> DetectionRunner::OpenIncidentsByKind() const {
  std::vector<std::pair<std::string, int>> out;
  for (const detect::KindInfo& info : detect::KindTable()) {
    out.emplace_back(info.name, 0);
  }
  absl::MutexLock lock(&mu_);
  if (detector_ != nullptr) {
    for (const detect::Incident& incident : detector_->OpenIncidents()) {
      if (incident.kind.value() < out.size()) {
        ++out[incident.kind.value()].second;
      }
    }
  }
  return out;
}

void DetectionRunner::TickOnce() {
  std::shared_ptr<const v1::Config> config;
  std::vector<detect::ConfigFault> faults;
  if (config_faults_) {
    faults = config_faults_(clock_->Now());
  }
  {
    absl::MutexLock lock(&mu_);
    detector_->SetConfigFaults(std::move(faults));
    const absl::Time now = clock_->Now();
    for (detect::IncidentEvent& e : detector_->Tick(now, CompleteBefore(now))) {
      spdlog::info("incident: {}", detect::DebugString(e));
      waiting_.push_back(std::move(e));
    }
    if (waiting_.empty()) {
      return;
    }
    config = config_;  // shared: Record reads it outside the lock
  }
  while (waiting_.size() > kMaxWaiting) {
    spdlog::error("detection: PostgreSQL unreachable too long; dropping incident event {}",
                  detect::DebugString(waiting_.front()));
    waiting_.pop_front();
  }
  std::vector<detect::IncidentEvent> batch(waiting_.begin(), waiting_.end());
  absl::Status s = store_.Record(batch, *config, clock_->Now());
  if (!s.ok() && !absl::IsUnavailable(s)) {
    // PostgreSQL refused something (not an outage): store the events one by
    // one so a single bad one cannot block every later incident.
    s = absl::OkStatus();
    for (const detect::IncidentEvent& e : batch) {
      absl::Status one = store_.Record({e}, *config, clock_->Now());
      if (absl::IsUnavailable(one)) {
        s = one;
        break;
      }
      if (!one.ok()) {
        spdlog::error("detection: dropping incident event PostgreSQL refuses: {}: {}",
                      detect::DebugString(e), one.ToString());
      }
      counters_.events_recorded.fetch_add(1);
      waiting_.pop_front();
    }
    batch.clear();
  }
  if (s.ok()) {
    counters_.events_recorded.fetch_add(batch.size());
    waiting_.clear();
  } else {
    if (counters_.record_errors.fetch_add(1) % 30 == 0) {
      spdlog::error("detection: cannot store {} incident events (will retry): {}", batch.size(),
                    s.ToString());
    }
  }
  counters_.events_waiting.store(waiting_.size());
}

void DetectionRunner::Loop() {
  while (true) {
    if (waiting_.empty() && restored_) {
      absl::MutexLock lock(&wake_mu_);
      wake_mu_.AwaitWithTimeout(absl::Condition(&wake_), kTickPeriod);
      wake_ = false;
    } else {
      // Waiting for PostgreSQL: moved promises do not hurry the retries.
      stop_.WaitForNotificationWithTimeout(kRetryPeriod);
    }
    if (stop_.HasBeenNotified()) {
      break;
    }
    if (!restored_) {
      TryRestore();
      if (!restored_) {
        continue;
      }
    }
    TickOnce();
    // Promises move about once a second per prober: with many probers,
    // ticks still come at most every kMinTickGap.
    if (stop_.WaitForNotificationWithTimeout(kMinTickGap)) {
      break;
    }
  }
}

void DetectionRunner::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  stop_.Notify();
  {
    absl::MutexLock lock(&wake_mu_);
    wake_ = true;
  }
  thread_.join();
  if (restored_ && !waiting_.empty()) {
    TickOnce();
  }
}

}  // namespace sonde::collector
