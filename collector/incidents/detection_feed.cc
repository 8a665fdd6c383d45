// DetectionRunner in cluster mode, its inputs from PostgreSQL (detection.h
// has the contract; docs/ha.md, "Detection shards under leases"): a gained
// shard's rebuild from stored results, the result feed every tick, and how
// far the owned shards' events are recorded (shard_leases.recorded_until,
// read by a new owner's ReplayFilter). The loop thread's; its own
// PostgreSQL connection (feed_conn_).
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "collector/cluster/shards.h"
#include "collector/incidents/detection.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {

absl::StatusOr<std::map<int, std::pair<uint64_t, absl::Time>>>
DetectionRunner::ReadRecordedUntil() {
  std::vector<std::pair<int, uint64_t>> gained;  // (shard, generation)
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [shard, lane] : lanes_) {
      if (!lane.incidents_restored && lane.fence.has_value()) {
        gained.emplace_back(shard, lane.generation);
      }
    }
  }
  std::map<int, std::pair<uint64_t, absl::Time>> out;
  if (gained.empty()) {
    return out;
  }
  ASSIGN_OR_RETURN(PGconn * c, FeedConn());
  const cluster::ShardLeases leases;
  for (const auto& [shard, generation] : gained) {
    // Read after the lease was taken: its previous owners can move it no more.
    ASSIGN_OR_RETURN(std::optional<cluster::ShardLease> row, leases.Read(c, shard));
    out[shard] = {generation, row.has_value() ? row->recorded_until : absl::InfinitePast()};
  }
  return out;
}

void DetectionRunner::MarkRecorded() {
  std::vector<cluster::RecordedMark> marks;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [shard, lane] : lanes_) {
      // Everything decided up to processed_until is recorded once nothing waits.
      if (lane.fence.has_value() && lane.restored && lane.waiting.empty()) {
        marks.push_back({shard, lane.fence->epoch, lane.detector->processed_until()});
      }
    }
  }
  if (marks.empty()) {
    return;
  }
  absl::StatusOr<PGconn*> c = FeedConn();
  absl::Status st = c.status();
  if (c.ok()) {
    // Skip a row another session holds: this is the detection loop's thread.
    st = cluster::ShardLeases().MarkRecorded(*c, ownership_->owner(), marks,
                                             cluster::ShardLeases::Locked::kSkip);
  }
  if (!st.ok() && counters_.record_errors.fetch_add(1) % 30 == 0) {
    spdlog::warn("detection: cannot record how far shards are recorded (retried): {}",
                 st.ToString());
  }
}

absl::StatusOr<PGconn*> DetectionRunner::FeedConn() {
  if (feed_conn_ != nullptr && PQstatus(feed_conn_.get()) != CONNECTION_OK) {
    feed_conn_.reset();
  }
  if (feed_conn_ == nullptr) {
    ASSIGN_OR_RETURN(feed_conn_, pg::Connect(conninfo_, "sonde-detection-feed"));
  }
  return feed_conn_.get();
}

absl::StatusOr<cluster::FeedPosition> DetectionRunner::ReadStored(const std::vector<int>& shards,
                                                                  const cluster::FeedSink& sink,
                                                                  cluster::FeedReadStats* stats) {
  std::shared_ptr<const v1::Config> config;
  {
    absl::MutexLock lock(&mu_);
    config = config_;
  }
  ASSIGN_OR_RETURN(PGconn * c, FeedConn());
  return cluster::ReadResultsSince(c, cluster::ChecksInShards(*config, shards),
                                   clock_->Now() - kRebuildSpan, sink, stats);
}

bool DetectionRunner::RebuildJudge() {
  {
    absl::MutexLock lock(&mu_);
    if (judge_ == nullptr || judge_rebuilt_) {
      return true;
    }
  }
  std::vector<int> every;
  for (int s = 0; s < cluster::kShardCount; ++s) {
    every.push_back(s);
  }
  cluster::FeedReadStats stats;
  const absl::StatusOr<cluster::FeedPosition> pos = ReadStored(
      every,
      [this](v1::ResultBatch&& batch) {
        absl::MutexLock lock(&mu_);
        for (v1::ProbeResult& r : *batch.mutable_results()) {
          r.set_region(batch.region());
          r.set_prober_id(batch.prober_id());
          judge_->Observe(r);
        }
        return absl::OkStatus();
      },
      &stats);
  if (!pos.ok()) {
    if (restore_attempts_++ % 30 == 0) {
      spdlog::warn("detection: cannot rebuild prober health from stored results yet ({})",
                   pos.status().ToString());
    }
    return false;
  }
  absl::MutexLock lock(&mu_);
  for (int s : every) {
    feed_.Follow(s, *pos);  // every shard's rows reach the judge
  }
  judge_rebuilt_ = true;
  spdlog::info("detection: prober health rebuilt from {} stored results", stats.results);
  return true;
}

void DetectionRunner::Rebuild(const std::vector<std::pair<int, uint64_t>>& lanes) {
  if (!RebuildJudge()) {
    return;  // the lanes wait: their votes need its verdicts
  }
  std::vector<int> shards;
  for (const auto& [shard, generation] : lanes) {
    shards.push_back(shard);
  }
  const absl::Time started = absl::Now();
  cluster::FeedReadStats stats;
  const absl::StatusOr<cluster::FeedPosition> pos = ReadStored(
      shards,
      [this](v1::ResultBatch&& batch) {
        Apply(batch);
        return absl::OkStatus();
      },
      &stats);
  if (!pos.ok()) {
    // The results read so far stay queued; a result read twice is dropped
    // by the detector (same run, same request index).
    if (restore_attempts_++ % 30 == 0) {
      spdlog::warn("detection: cannot rebuild shards from stored results yet ({}); they wait",
                   pos.status().ToString());
    }
    return;
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [shard, generation] : lanes) {
    auto it = lanes_.find(shard);
    if (it == lanes_.end() || it->second.generation != generation) {
      continue;  // lost meanwhile
    }
    it->second.restored = true;
    feed_.Follow(shard, *pos);
    followed_[shard] = generation;
  }
  spdlog::info("detection: {} shards rebuilt from {} stored results in {}", lanes.size(),
               stats.results,
               absl::FormatDuration(absl::Trunc(absl::Now() - started, absl::Milliseconds(1))));
}

void DetectionRunner::ReadFeed() {
  {
    // Stop following the shards whose lanes were dropped or replaced.
    absl::MutexLock lock(&mu_);
    for (auto it = followed_.begin(); it != followed_.end();) {
      auto lane = lanes_.find(it->first);
      if (lane == lanes_.end() || lane->second.generation != it->second) {
        if (judge_ == nullptr) {
          feed_.Drop(it->first);  // else the judge still follows it
        }
        it = followed_.erase(it);
      } else {
        ++it;
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (followed_.empty() && !judge_rebuilt_) {
      return;
    }
  }
  absl::StatusOr<PGconn*> c = FeedConn();
  absl::Status st = c.status();
  if (c.ok()) {
    st = feed_
             .Read(*c,
                   [this](v1::ResultBatch&& batch) {
                     Apply(batch);
                     return absl::OkStatus();
                   })
             .status();
  }
  if (!st.ok() && counters_.record_errors.fetch_add(1) % 30 == 0) {
    spdlog::warn("detection: cannot read the result feed (retried): {}", st.ToString());
  }
}

}  // namespace sonde::collector
