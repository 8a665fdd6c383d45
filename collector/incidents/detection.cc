#include "collector/incidents/detection.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/cluster/shards.h"
#include "collector/detect/kinds.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
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
// How often an owner records how far its quiet shards are recorded (a new
// owner's rebuild writes what is later; docs/ha.md).
constexpr absl::Duration kMarkPeriod = absl::Seconds(1);

}  // namespace

DetectionRunner::DetectionRunner(std::string conninfo, const common::Clock* clock)
    : clock_(clock), conninfo_(conninfo), store_(std::move(conninfo)) {}

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
  options_ = options;
  prober_shard_ = cluster::ShardOf(options.prober_fault_service);
  {
    absl::MutexLock lock(&mu_);
    config_ = std::make_shared<const v1::Config>(config);
    started_ = true;
    if (ownership_ == nullptr) {
      Lane& lane = lanes_[kAllShards];
      lane.generation = ++generations_;
      lane.detector = std::move(*detector);
    } else {
      // The judge starts where its rebuild does, as a shard's detector.
      judge_ = *detect::Detector::Create(options);  // validated above
      judge_->ExportProberVerdicts();
      RETURN_IF_ERROR(judge_->SetConfig(config, clock_->Now() - kRebuildSpan));
    }
  }
  TryRestore();
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void DetectionRunner::EnableSharding(cluster::ShardOwnership* ownership) {
  ownership_ = ownership;
  ownership->set_on_gained([this](int shard, int64_t epoch) {
    absl::MutexLock lock(&mu_);
    if (!started_) {
      return;  // the server starts the ownership loop after detection
    }
    const cluster::LeaseFence fence{shard, ownership_->owner(), epoch};
    if (absl::Status s = AddLane(shard, fence); !s.ok()) {
      spdlog::error("detection: shard {} not started: {}", shard, s.ToString());
      return;
    }
    spdlog::info("detection: shard {} gained under epoch {}", shard, epoch);
  });
  ownership->set_on_lost([this](int shard, int64_t epoch) {
    absl::MutexLock lock(&mu_);
    auto it = lanes_.find(shard);
    if (it != lanes_.end() && it->second.fence.has_value() && it->second.fence->epoch == epoch) {
      spdlog::info("detection: shard {} (epoch {}) dropped with {} events not stored", shard, epoch,
                   it->second.waiting.size());
      lanes_.erase(it);
    }
  });
}

std::shared_ptr<const v1::Config> DetectionRunner::ConfigOf(int shard) const {
  if (shard == kAllShards) {
    return config_;
  }
  auto subset = std::make_shared<v1::Config>(*config_);
  subset->clear_checks();
  for (const v1::Check& c : config_->checks()) {
    if (cluster::ShardOf(c) == shard) {
      *subset->add_checks() = c;
    }
  }
  return subset;
}

absl::Status DetectionRunner::AddLane(int shard, std::optional<cluster::LeaseFence> fence) {
  auto detector = detect::Detector::Create(options_);
  if (!detector.ok()) {
    return detector.status();
  }
  const absl::Time now = clock_->Now();
  // A shard's detector starts where its rebuild does (results before its
  // first instant would be late).
  const absl::Time from = fence.has_value() ? now - kRebuildSpan : now;
  if (judge_ != nullptr) {
    (*detector)->FollowProberVerdicts();
  }
  RETURN_IF_ERROR((*detector)->SetConfig(*ConfigOf(shard), from));
  if (judge_ != nullptr) {
    (*detector)->AddProberVerdicts(verdicts_);  // its rebuild replays them
  }
  Lane& lane = lanes_[shard];
  lane = Lane();
  lane.shard = shard;
  lane.generation = ++generations_;
  lane.fence = std::move(fence);
  lane.detector = std::move(*detector);
  if (lane.fence.has_value()) {
    lane.replay = ReplayFilter(now - options_.reorder_window);
  }
  return absl::OkStatus();
}

void DetectionRunner::JudgeProbers(absl::Time now, absl::Time complete_before) {
  if (!judge_rebuilt_) {
    return;  // no lane is restored before it (Rebuild)
  }
  judge_->Tick(now, complete_before);  // its incidents are the lanes' to raise
  std::vector<detect::ProberVerdict> verdicts = judge_->TakeProberVerdicts();
  if (verdicts.empty()) {
    return;
  }
  for (auto& [shard, lane] : lanes_) {
    lane.detector->AddProberVerdicts(verdicts);
  }
  verdicts_.insert(verdicts_.end(), std::make_move_iterator(verdicts.begin()),
                   std::make_move_iterator(verdicts.end()));
  // Keep what a rebuild replays: the last kRebuildSpan, and each region's latest.
  const absl::Time keep_from = judge_->processed_until() - kRebuildSpan - absl::Minutes(1);
  std::set<std::string> latest;
  std::vector<detect::ProberVerdict> kept;
  for (auto it = verdicts_.rbegin(); it != verdicts_.rend(); ++it) {
    if (latest.insert(it->region).second || it->at >= keep_from) {
      kept.push_back(std::move(*it));
    }
  }
  verdicts_.assign(std::make_move_iterator(kept.rbegin()), std::make_move_iterator(kept.rend()));
}

bool DetectionRunner::RaisesProberFaults(const Lane& lane) const {
  return lane.shard == kAllShards || lane.shard == prober_shard_;
}

const DetectionRunner::Lane* DetectionRunner::LaneOf(const v1::Check& check) const {
  auto it = lanes_.find(kAllShards);
  if (it == lanes_.end()) {
    it = lanes_.find(cluster::ShardOf(check));
  }
  return it == lanes_.end() ? nullptr : &it->second;
}

// Until the open incidents of the previous run are restored, nothing is
// evaluated (results wait in the reorder queue): evaluating first would open
// a second incident for an outage that is already open.
// A gained shard is restored the same way, from its services' open
// incidents.
void DetectionRunner::TryRestore() {
  {
    absl::MutexLock lock(&mu_);
    bool any = false;
    for (const auto& [shard, lane] : lanes_) {
      any |= !lane.restored;
    }
    if (!any) {
      return;
    }
  }
  auto open = store_.LoadOpen();
  if (!open.ok()) {
    if (restore_attempts_++ % 30 == 0) {
      spdlog::warn("detection: cannot read the open incidents yet ({}); detection waits",
                   open.status().ToString());
    }
    return;
  }
  absl::StatusOr<std::map<int, std::pair<uint64_t, absl::Time>>> recorded = ReadRecordedUntil();
  if (!recorded.ok()) {
    if (restore_attempts_++ % 30 == 0) {
      spdlog::warn("detection: cannot read how far gained shards are recorded yet ({}); they wait",
                   recorded.status().ToString());
    }
    return;
  }
  std::vector<std::pair<int, uint64_t>> rebuild;  // (shard, generation)
  {
    absl::MutexLock lock(&mu_);
    for (auto& [shard, lane] : lanes_) {
      if (lane.restored) {
        continue;
      }
      if (lane.incidents_restored) {
        rebuild.emplace_back(shard, lane.generation);  // an earlier rebuild failed
        continue;
      }
      if (lane.fence.has_value()) {
        auto r = recorded->find(shard);
        if (r == recorded->end() || r->second.first != lane.generation) {
          continue;  // gained again meanwhile: read it again at the next attempt
        }
        lane.replay.SetRecordedUntil(r->second.second);
      }
      std::vector<detect::Incident> mine;
      for (const detect::Incident& i : *open) {
        if (shard == kAllShards || cluster::ShardOf(i.service) == shard) {
          mine.push_back(i);
        }
      }
      lane.detector->RestoreIncidents(mine, clock_->Now());
      lane.incidents_restored = true;
      for (const detect::Incident& i : mine) {
        lane.replay.Restored(i);
      }
      if (shard == kAllShards) {
        lane.restored = true;
        spdlog::info("detection: {} checks, {} open incidents continued", config_->checks_size(),
                     mine.size());
        continue;
      }
      rebuild.emplace_back(shard, lane.generation);
      if (!mine.empty()) {
        spdlog::info("detection: shard {}: {} open incidents continued", shard, mine.size());
      }
    }
  }
  if (!rebuild.empty()) {
    Rebuild(rebuild);
  }
}

void DetectionRunner::SetConfig(const v1::Config& config) {
  SetConfig(std::make_shared<const v1::Config>(config));
}

void DetectionRunner::SetConfig(std::shared_ptr<const v1::Config> shared) {
  const v1::Config& config = *shared;
  absl::MutexLock lock(&mu_);
  if (!started_) {
    return;
  }
  if (config.detection().SerializeAsString() != config_->detection().SerializeAsString()) {
    spdlog::warn("detection: the `detection:` block changed; it takes effect at the next restart");
  }
  std::shared_ptr<const v1::Config> old = std::move(config_);
  config_ = std::move(shared);
  for (auto& [shard, lane] : lanes_) {
    if (absl::Status s = lane.detector->SetConfig(*ConfigOf(shard), clock_->Now()); !s.ok()) {
      spdlog::error("detection: new config refused, keeping the old checks: {}", s.ToString());
      config_ = std::move(old);  // the detectors refuse it alike (region count)
      return;
    }
  }
  if (judge_ != nullptr) {
    judge_->SetConfig(*config_, clock_->Now()).IgnoreError();  // refused alike (above)
  }
}

void DetectionRunner::Observe(const v1::ResultBatch& batch) {
  if (ownership_ != nullptr) {
    return;  // cluster mode: the result feed brings it, to whichever replica owns it
  }
  Apply(batch);
}

void DetectionRunner::Apply(const v1::ResultBatch& batch) {
  bool moved = false;
  {
    absl::MutexLock lock(&mu_);
    if (!started_) {
      return;
    }
    auto all = lanes_.find(kAllShards);
    v1::ProbeResult copy;
    for (const v1::ProbeResult& r : batch.results()) {
      auto lane = all != lanes_.end() ? all : lanes_.find(cluster::ShardOf(r));
      if (lane == lanes_.end() && judge_ == nullptr) {
        continue;  // another replica's shard
      }
      const v1::ProbeResult* result = &r;
      if (r.region() != batch.region() || r.prober_id() != batch.prober_id()) {
        copy = r;
        copy.set_region(batch.region());
        copy.set_prober_id(batch.prober_id());
        result = &copy;
      }
      if (lane != lanes_.end()) {
        lane->second.detector->Observe(*result);
      }
      if (judge_ != nullptr) {
        judge_->Observe(*result);  // every shard's: prober health
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
  detect::DetectorStats out;
  absl::MutexLock lock(&mu_);
  for (const auto& [shard, lane] : lanes_) {
    const detect::DetectorStats s = lane.detector->stats();
    out.results_observed += s.results_observed;
    out.results_applied += s.results_applied;
    out.late_results += s.late_results;
    out.duplicate_results += s.duplicate_results;
    out.unknown_check += s.unknown_check;
    out.unknown_region += s.unknown_region;
    out.prober_errors += s.prober_errors;
    out.pending += s.pending;
  }
  return out;
}

DetectionRunner::Snapshot DetectionRunner::TakeSnapshot(const std::string& service,
                                                        const std::string& check,
                                                        const std::string& region) const {
  Snapshot out;
  absl::MutexLock lock(&mu_);
  if (!started_) {
    return out;
  }
  for (const v1::Check& c : config_->checks()) {
    if ((!service.empty() && c.service() != service) || (!check.empty() && c.name() != check)) {
      continue;
    }
    const Lane* lane = LaneOf(c);
    if (lane == nullptr) {
      continue;  // another replica's shard
    }
    // A loaded config names every check's regions (defaults filled in).
    for (const std::string& r : c.regions().empty() ? config_->regions() : c.regions()) {
      if (!region.empty() && r != region) {
        continue;
      }
      out.series.push_back({c.name(), c.service(), r, lane->detector->Status(c.name(), r)});
    }
  }
  for (const auto& [shard, lane] : lanes_) {
    for (detect::Incident& i : lane.detector->OpenIncidents()) {
      if (i.kind != detect::IncidentKind::kProberFault || RaisesProberFaults(lane)) {
        out.open.push_back(std::move(i));
      }
    }
  }
  return out;
}

std::vector<DetectionRunner::ShardSnapshot> DetectionRunner::OwnedShardSnapshots() const {
  absl::MutexLock lock(&mu_);
  std::map<int, ShardSnapshot> by_shard;
  for (const auto& [shard, lane] : lanes_) {
    if (!lane.fence.has_value() || !lane.restored) {
      continue;
    }
    ShardSnapshot& s = by_shard[shard];
    s.fence = *lane.fence;
    for (detect::Incident& i : lane.detector->OpenIncidents()) {
      if (i.kind != detect::IncidentKind::kProberFault || RaisesProberFaults(lane)) {
        s.snapshot.open.push_back(std::move(i));
      }
    }
  }
  for (const v1::Check& c : config_->checks()) {
    const Lane* lane = LaneOf(c);
    auto it = lane == nullptr ? by_shard.end() : by_shard.find(lane->shard);
    if (it == by_shard.end()) {
      continue;
    }
    for (const std::string& r : c.regions().empty() ? config_->regions() : c.regions()) {
      it->second.snapshot.series.push_back(
          {c.name(), c.service(), r, lane->detector->Status(c.name(), r)});
    }
  }
  std::vector<ShardSnapshot> out;
  for (auto& [shard, s] : by_shard) {
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::pair<std::string, int>> DetectionRunner::OpenIncidentsByKind() const {
  std::vector<std::pair<std::string, int>> out;
  for (const detect::KindInfo& info : detect::KindTable()) {
    out.emplace_back(info.name, 0);
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [shard, lane] : lanes_) {
    for (const detect::Incident& incident : lane.detector->OpenIncidents()) {
      if (incident.kind == detect::IncidentKind::kProberFault && !RaisesProberFaults(lane)) {
        continue;
      }
      if (incident.kind.value() < out.size()) {
        ++out[incident.kind.value()].second;
      }
    }
  }
  return out;
}

void DetectionRunner::TickOnce() {
  std::vector<detect::ConfigFault> faults;
  if (config_faults_) {
    faults = config_faults_(clock_->Now());
  }
  std::vector<std::pair<int, uint64_t>> to_record;  // (shard, generation)
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    const absl::Time complete_before = CompleteBefore(now);
    if (judge_ != nullptr) {
      JudgeProbers(now, complete_before);  // before the votes it decides
    }
    for (auto& [shard, lane] : lanes_) {
      if (!lane.restored) {
        continue;  // evaluating first would open a second incident
      }
      const bool prober_level = RaisesProberFaults(lane);
      lane.detector->SetConfigFaults(prober_level ? faults : std::vector<detect::ConfigFault>());
      for (detect::IncidentEvent& e : lane.detector->Tick(now, complete_before)) {
        if (e.incident.kind == detect::IncidentKind::kProberFault && !prober_level) {
          continue;  // raised once, by the prober shard
        }
        if (!lane.replay.Writes(e)) {
          continue;  // in the timeline already, or the previous owner's to record
        }
        spdlog::info("incident: {}", detect::DebugString(e));
        lane.waiting.push_back(std::move(e));
      }
      while (lane.waiting.size() > kMaxWaiting) {
        spdlog::error("detection: PostgreSQL unreachable too long; dropping incident event {}",
                      detect::DebugString(lane.waiting.front()));
        lane.waiting.pop_front();
      }
      if (!lane.waiting.empty()) {
        to_record.emplace_back(shard, lane.generation);
      }
    }
  }
  for (const auto& [shard, generation] : to_record) {
    RecordLane(shard, generation);
  }
  uint64_t waiting = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [shard, lane] : lanes_) {
      waiting += lane.waiting.size();
    }
  }
  counters_.events_waiting.store(waiting);
}

void DetectionRunner::RecordLane(int shard, uint64_t generation) {
  std::vector<detect::IncidentEvent> batch;
  std::optional<cluster::LeaseFence> fence;
  absl::Time recorded_until;
  std::shared_ptr<const v1::Config> config;
  {
    absl::MutexLock lock(&mu_);
    auto it = lanes_.find(shard);
    if (it == lanes_.end() || it->second.generation != generation) {
      return;  // dropped meanwhile
    }
    batch.assign(it->second.waiting.begin(), it->second.waiting.end());
    fence = it->second.fence;
    // The batch holds every event decided up to here that waits.
    recorded_until = it->second.detector->processed_until();
    config = config_;  // shared: Record reads it outside the lock
  }
  const cluster::LeaseFence* f = fence.has_value() ? &*fence : nullptr;
  size_t stored = 0;  // from the front of the batch
  absl::Status s = store_.Record(batch, *config, clock_->Now(), f, recorded_until);
  if (s.ok()) {
    stored = batch.size();
  } else if (!absl::IsUnavailable(s) && !cluster::IsFenced(s)) {
    // PostgreSQL refused something (not an outage): store the events one by
    // one so a single bad one cannot block every later incident.
    s = absl::OkStatus();
    for (const detect::IncidentEvent& e : batch) {
      absl::Status one = store_.Record({e}, *config, clock_->Now(), f);
      if (absl::IsUnavailable(one) || cluster::IsFenced(one)) {
        s = one;
        break;
      }
      if (!one.ok()) {
        spdlog::error("detection: dropping incident event PostgreSQL refuses: {}: {}",
                      detect::DebugString(e), one.ToString());
      }
      ++stored;
    }
  }
  counters_.events_recorded.fetch_add(stored);
  if (cluster::IsFenced(s)) {
    // The lease is gone: nothing of this shard may be written any more.
    ownership_->Fenced(shard, fence->epoch);  // drops the lane (on_lost)
    return;
  }
  if (!s.ok() && counters_.record_errors.fetch_add(1) % 30 == 0) {
    spdlog::error("detection: cannot store {} incident events (will retry): {}", batch.size(),
                  s.ToString());
  }
  absl::MutexLock lock(&mu_);
  auto it = lanes_.find(shard);
  if (it != lanes_.end() && it->second.generation == generation) {
    for (size_t k = 0; k < stored && !it->second.waiting.empty(); ++k) {
      it->second.waiting.pop_front();
    }
  }
}

bool DetectionRunner::Busy() const {
  absl::MutexLock lock(&mu_);
  for (const auto& [shard, lane] : lanes_) {
    if (!lane.restored || !lane.waiting.empty()) {
      return true;
    }
  }
  return false;
}

void DetectionRunner::Loop() {
  while (true) {
    if (!Busy()) {
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
    TryRestore();  // the lanes not restored yet (none, mostly)
    if (ownership_ != nullptr) {
      ReadFeed();
    }
    TickOnce();
    if (ownership_ != nullptr && absl::Now() - last_mark_ >= kMarkPeriod) {
      last_mark_ = absl::Now();
      MarkRecorded();
    }
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
  if (Busy()) {
    TickOnce();  // one more attempt to store what waits
  }
}

}  // namespace sonde::collector
