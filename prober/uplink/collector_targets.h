// CollectorTargets: the collector replicas one prober may stream to (the
// `--collector a:7600,b:7600` list), one gRPC channel each, and which of
// them the next stream goes to. Every replica shares one PostgreSQL and
// dedups batches by (prober_id, batch_seq), so a batch resent to another
// replica after a failover is stored once (docs/ha.md).
//
// The choice: a prober starts on a replica picked at random (probers given
// the same list spread over it); a stream that failed without an ack moves
// to the next replica in the list (Failed: a dead replica is skipped, each
// is tried in turn); a stream that worked and then ended (the replica's
// maximum connection age, a shutdown) moves to a random replica (Spread), so
// streams spread again after a replica came back. A name that resolves to
// several addresses is one target: its channel balances over the addresses
// itself (Uplink::ChannelArguments).
//
// Owns the channels (shared with the callers' stubs). Thread-safe: the
// Uplink's thread and the ConfigClient's thread both read and move the
// current target; Failed(i) moves only while `i` is still current, so both
// seeing one replica fail moves once.
#ifndef SONDE_PROBER_UPLINK_COLLECTOR_TARGETS_H_
#define SONDE_PROBER_UPLINK_COLLECTOR_TARGETS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"

namespace sonde::prober {

// The most replicas one --collector flag may list.
inline constexpr size_t kMaxCollectors = 32;

// "a:7600,b:7600" (spaces around commas allowed) -> {"a:7600", "b:7600"}.
// Every entry is HOST:PORT ([v6]:PORT for IPv6; without a port gRPC's
// default applies, as it always did for one collector); no empty entry, no entry twice, at most
// kMaxCollectors. INVALID_ARGUMENT naming the bad entry otherwise.
absl::StatusOr<std::vector<std::string>> ParseCollectorList(const std::string& flag);

class CollectorTargets {
 public:
  struct Target {
    std::string address;  // HOST:PORT as given
    std::shared_ptr<grpc::Channel> channel;
  };
  // `targets` is not empty. `seed` picks the first target (tests pass a
  // fixed one; the prober a random one).
  CollectorTargets(std::vector<Target> targets, uint64_t seed);
  // One target: the single-collector setup, or a test's channel.
  static std::shared_ptr<CollectorTargets> Single(std::shared_ptr<grpc::Channel> channel,
                                                  std::string address = "collector");

  size_t size() const { return targets_.size(); }
  const std::string& address(size_t i) const { return targets_[i].address; }
  const std::shared_ptr<grpc::Channel>& channel(size_t i) const { return targets_[i].channel; }

  // The target the next stream goes to.
  size_t current() const;
  // A stream on target `index` ended without an ack: the next stream goes
  // to the following target, unless another thread moved on already.
  // Returns the current target.
  size_t Failed(size_t index);
  // A stream that was acked ended: the next one goes to a target drawn at
  // random (possibly the same). Returns it.
  size_t Spread();
  // Makes `index` current (a replica that came back while the current one
  // is down).
  void Select(size_t index);

 private:
  const std::vector<Target> targets_;
  mutable absl::Mutex mu_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_UPLINK_COLLECTOR_TARGETS_H_
