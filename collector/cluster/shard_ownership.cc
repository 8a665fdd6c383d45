#include "collector/cluster/shard_ownership.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/cluster/shards.h"
#include "common/config/config_transfer.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::collector::cluster {

uint64_t RendezvousScore(absl::string_view replica_id, int shard) {
  // FNV-1a (config_transfer.h) spreads poorly over names that differ in
  // their last characters; the finalizer of splitmix64 mixes every bit.
  uint64_t h = common::CheckHash(absl::StrCat(replica_id, "#", shard));
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::string RendezvousOwner(int shard, const std::vector<std::string>& candidates) {
  std::string best;
  uint64_t best_score = 0;
  for (const std::string& c : candidates) {
    const uint64_t score = RendezvousScore(c, shard);
    // Ties (never in practice) go to the smaller id, the same on every replica.
    if (best.empty() || score > best_score || (score == best_score && c < best)) {
      best = c;
      best_score = score;
    }
  }
  return best;
}

std::set<int> ShardsFor(const std::string& me, const std::vector<std::string>& candidates) {
  std::set<int> out;
  for (int s = 0; s < kShardCount; ++s) {
    if (RendezvousOwner(s, candidates) == me) {
      out.insert(s);
    }
  }
  return out;
}

std::vector<std::string> Candidates(const ClusterView& view) {
  std::vector<std::string> out;
  if (!view.known || view.recorded_version.empty()) {
    return out;
  }
  for (const MemberRow& m : view.members) {
    if (m.live && m.cluster_mode && m.config_version == view.recorded_version) {
      out.push_back(m.replica_id);
    }
  }
  return out;
}

namespace {

// PostgreSQL's lock_not_available: a lease statement waited lock_wait for a
// row a fenced write in flight holds FOR SHARE (shard_leases.h). The shard
// is then left until the next pass, so the other shards' renewals never
// wait on another session.
bool IsLockTimeout(const absl::Status& s) {
  return absl::StrContains(s.message(), "SQLSTATE 55P03");
}

}  // namespace

ShardOwnership::ShardOwnership(std::string conninfo, const MemberHeartbeat* members,
                               ShardOwnershipOptions options)
    : conninfo_(std::move(conninfo)), members_(members), options_(options), leases_(options.ttl) {}

std::map<int, int64_t> ShardOwnership::Owned() const {
  std::map<int, int64_t> out;
  absl::MutexLock l(&mu_);
  for (const auto& [shard, held] : held_) {
    out.emplace(shard, held.epoch);
  }
  return out;
}

std::optional<int64_t> ShardOwnership::EpochOf(int shard) const {
  absl::MutexLock l(&mu_);
  auto it = held_.find(shard);
  if (it == held_.end()) {
    return std::nullopt;
  }
  return it->second.epoch;
}

void ShardOwnership::Drop(int shard, int64_t epoch) {
  {
    absl::MutexLock l(&mu_);
    auto it = held_.find(shard);
    if (it == held_.end() || it->second.epoch != epoch) {
      return;
    }
    held_.erase(it);
  }
  if (on_lost_) {
    on_lost_(shard, epoch);
  }
}

void ShardOwnership::Gain(int shard, int64_t epoch, absl::Time sent) {
  {
    absl::MutexLock l(&mu_);
    held_[shard] = Held{epoch, sent, sent + options_.ttl};
  }
  gained_++;
  if (on_gained_) {
    on_gained_(shard, epoch);
  }
}

void ShardOwnership::Fenced(int shard, int64_t epoch) {
  fenced_++;
  if (EpochOf(shard) == epoch) {
    lost_++;
    spdlog::warn("shard {}: a write under epoch {} was fenced; dropping the shard", shard, epoch);
  }
  Drop(shard, epoch);
}

absl::Status ShardOwnership::PassOnce() {
  const std::string me = members_->identity().replica_id;
  const std::vector<std::string> candidates = Candidates(members_->View());
  // Not a candidate (out of step, not yet seen, not live): wants nothing,
  // so it releases what it holds.
  const bool candidate = std::find(candidates.begin(), candidates.end(), me) != candidates.end();
  const std::set<int> wanted = candidate ? ShardsFor(me, candidates) : std::set<int>();
  // Deadlines pass whether or not PostgreSQL answers.
  const absl::Time now = absl::Now();
  for (const auto& [shard, epoch] : Owned()) {
    bool late = false;
    {
      absl::MutexLock l(&mu_);
      auto it = held_.find(shard);
      late = it != held_.end() && now >= it->second.deadline;
    }
    if (late) {
      lost_++;
      spdlog::warn("shard {}: lease not renewed within its TTL; dropped", shard);
      Drop(shard, epoch);
    }
  }
  if (conn_ == nullptr || PQstatus(conn_.get()) != CONNECTION_OK) {
    absl::StatusOr<pg::PgConnPtr> c = pg::Connect(conninfo_, "sonde-collector-shards");
    if (!c.ok()) {
      pass_failures_++;
      return c.status();
    }
    conn_ = *std::move(c);
    absl::Status bounded =
        pg::Exec(conn_.get(),
                 absl::StrCat("SET lock_timeout = ",
                              std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.lock_wait))),
                 "bound the shard loop's lock waits")
            .status();
    if (!bounded.ok()) {
      conn_.reset();
      pass_failures_++;
      return bounded;
    }
  }
  absl::Status st = Pass(conn_.get(), me, wanted);
  if (!st.ok()) {
    pass_failures_++;
  }
  return st;
}

absl::Status ShardOwnership::Pass(PGconn* c, const std::string& me, const std::set<int>& wanted) {
  for (const auto& [shard, epoch] : Owned()) {
    if (wanted.count(shard) == 0) {
      // Handover: stop first (no write of ours can start after this), then
      // end the lease so the new owner need not wait for the TTL.
      Drop(shard, epoch);
      released_++;
      absl::Status released = leases_.Release(c, shard, me, epoch).status();
      // A locked row (our own write in flight): the lease expires by itself.
      if (!released.ok() && !IsLockTimeout(released)) {
        return released;
      }
      continue;
    }
    absl::Time renewed;
    {
      absl::MutexLock l(&mu_);
      auto it = held_.find(shard);
      if (it == held_.end() || it->second.epoch != epoch) {
        continue;  // fenced meanwhile
      }
      renewed = it->second.renewed;
    }
    const absl::Time sent = absl::Now();
    if (sent - renewed < options_.renew_every) {
      continue;
    }
    absl::StatusOr<std::optional<ShardLease>> lease = leases_.Renew(c, shard, me, epoch);
    if (!lease.ok() && IsLockTimeout(lease.status())) {
      continue;  // our own write of the shard in flight: renewed at the next pass
    }
    RETURN_IF_ERROR(lease.status());
    if (!lease->has_value()) {
      lost_++;
      spdlog::warn("shard {}: lease of epoch {} lost (expired or taken over)", shard, epoch);
      Drop(shard, epoch);
      continue;
    }
    absl::MutexLock l(&mu_);
    auto it = held_.find(shard);
    if (it != held_.end() && it->second.epoch == epoch) {
      it->second.renewed = sent;
      it->second.deadline = sent + options_.ttl;
    }
  }
  return AcquireWanted(c, me, wanted);
}

absl::Status ShardOwnership::AcquireWanted(PGconn* c, const std::string& me,
                                           const std::set<int>& wanted) {
  std::set<int> missing;
  {
    absl::MutexLock l(&mu_);
    for (int s : wanted) {
      if (held_.count(s) == 0) {
        missing.insert(s);
      }
    }
  }
  if (missing.empty()) {
    return absl::OkStatus();
  }
  // One read tells which are free; a lease another member still runs is
  // left alone until it releases it or it expires.
  ASSIGN_OR_RETURN(pg::PgResultPtr rows,
                   pg::Exec(c,
                            "SELECT shard, owner, epoch, expires_at > clock_timestamp()"
                            " FROM shard_leases WHERE shard >= 0",
                            "read the shard leases"));
  std::map<int, std::pair<std::string, int64_t>> running;  // shard -> (owner, epoch)
  for (int i = 0; i < PQntuples(rows.get()); ++i) {
    int shard = 0;
    int64_t epoch = 0;
    if (std::string(PQgetvalue(rows.get(), i, 3)) == "t" &&
        absl::SimpleAtoi(PQgetvalue(rows.get(), i, 0), &shard) &&
        absl::SimpleAtoi(PQgetvalue(rows.get(), i, 2), &epoch)) {
      running[shard] = {PQgetvalue(rows.get(), i, 1), epoch};
    }
  }
  for (int shard : missing) {
    auto it = running.find(shard);
    if (it != running.end()) {
      if (it->second.first != me) {
        continue;
      }
      // Ours from an earlier run of this replica id: end it, so this run
      // writes under a new epoch and the old run's writes are fenced.
      absl::Status released = leases_.Release(c, shard, me, it->second.second).status();
      if (!released.ok() && IsLockTimeout(released)) {
        continue;  // a write of the earlier run in flight: tried at the next pass
      }
      RETURN_IF_ERROR(released);
    }
    const absl::Time sent = absl::Now();
    absl::StatusOr<std::optional<ShardLease>> lease = leases_.Acquire(c, shard, me);
    if (!lease.ok() && IsLockTimeout(lease.status())) {
      continue;  // the previous owner's write in flight: tried at the next pass
    }
    RETURN_IF_ERROR(lease.status());
    if (lease->has_value()) {
      Gain(shard, (*lease)->epoch, sent);
    }
  }
  return absl::OkStatus();
}

void ShardOwnership::Start() {
  if (thread_.joinable()) {
    return;
  }
  thread_ = std::thread([this] {
    int failures = 0;
    do {
      if (absl::Status st = PassOnce(); !st.ok()) {
        if (failures++ % 30 == 0) {
          spdlog::warn("shard ownership pass failed (retried every {}): {}",
                       absl::FormatDuration(options_.pass_every), std::string(st.message()));
        }
      } else {
        failures = 0;
      }
    } while (!stop_.WaitForNotificationWithTimeout(options_.pass_every));
  });
}

void ShardOwnership::Stop() {
  if (thread_.joinable()) {
    stop_.Notify();
    thread_.join();
  }
  const std::string me = members_->identity().replica_id;
  for (const auto& [shard, epoch] : Owned()) {
    Drop(shard, epoch);
    released_++;
    if (conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK) {
      leases_.Release(conn_.get(), shard, me, epoch).IgnoreError();  // else it expires
    }
  }
}

void ShardOwnership::AppendMetrics(common::MetricsText* m) const {
  size_t owned = 0;
  {
    absl::MutexLock l(&mu_);
    owned = held_.size();
  }
  m->Add("sonde_cluster_shards_owned", "gauge",
         "Detection shards this replica holds the lease of (docs/ha.md).", owned);
  m->Add("sonde_cluster_shard_gains_total", "counter",
         "Detection shard leases this replica acquired (each under a new epoch).",
         gained_.load(std::memory_order_relaxed));
  m->Add("sonde_cluster_shard_releases_total", "counter",
         "Detection shards this replica handed over (rendezvous named another member, or "
         "shutdown).",
         released_.load(std::memory_order_relaxed));
  m->Add("sonde_cluster_shard_losses_total", "counter",
         "Detection shards this replica lost without handing them over: a lease expired or taken "
         "over, or a fenced write.",
         lost_.load(std::memory_order_relaxed));
  m->Add("sonde_cluster_shard_pass_failures_total", "counter",
         "Shard ownership passes that failed (PostgreSQL away); retried every second.",
         pass_failures_.load(std::memory_order_relaxed));
  m->Add("sonde_detection_fenced_writes_total", "counter",
         "Incident, timeline or outbox writes refused because this replica no longer held the "
         "shard's lease under the epoch it wrote with (rolled back; the shard is dropped).",
         fenced_.load(std::memory_order_relaxed));
}

}  // namespace sonde::collector::cluster
