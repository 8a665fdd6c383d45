// CollectorTargets: the collector replicas one prober may stream to (the
// `--collector a:7600,b:7600` list), one gRPC channel each, and which of
// them the next stream goes to. Every replica shares one PostgreSQL and
// dedups batches by (prober_id, batch_seq), so a batch resent to another
// replica after a failover is stored once (docs/ha.md).
//
// The list is an order of preference. A prober starts on the first
// replica; a stream that failed without an ack moves to the next one
// (Failed: a dead replica is skipped, each is tried in turn); a stream that
// worked and then ended (the replica's maximum connection age, a shutdown)
// goes back to the first (Prefer), so every prober returns to the
// preferred replica once it is back: without cluster mode each replica's
// detector sees only the streams that replica receives, so detection is
// right only while all streams go to one replica.
//
// In cluster mode (the replicas' acks say Ack.spread) detection is sharded
// and fed from PostgreSQL, so streams spread instead: the first ack that
// says so draws a replica at random (LearnSpread; the Uplink ends its stream
// to move there when the draw is another one), and every stream that worked
// and ended goes to a replica drawn at random (Prefer). A failed stream
// still moves to the next one at once. A name that resolves to several
// addresses is one target: gRPC tries its addresses in order.
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
  // `targets` is not empty; the first is current. `seed` seeds the random
  // draws of cluster mode (tests pass a fixed one).
  explicit CollectorTargets(std::vector<Target> targets, uint64_t seed = std::random_device{}());
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
  // A stream on target `ended` that was acked ended. Not in cluster mode:
  // the next one goes to the first target. In cluster mode: to a target
  // drawn at random, or, when the current one is no longer `ended`
  // (LearnSpread's draw, Select), to the current one. Returns it.
  size_t Prefer(size_t ended);
  // An ack on a stream to target `streaming` said whether the replica runs
  // in cluster mode (Ack.spread). The first ack that says so since start
  // draws a replica at random and makes it current; returns true when that
  // is another target than `streaming` (the caller ends that stream, its
  // batches acked, so the next one goes there), else false.
  bool LearnSpread(bool spread, size_t streaming);
  // Whether the latest ack said cluster mode.
  bool spread() const;
  // Makes `index` current (a replica that came back while the current one
  // is down).
  void Select(size_t index);

 private:
  const std::vector<Target> targets_;
  mutable absl::Mutex mu_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
  bool spread_ ABSL_GUARDED_BY(mu_) = false;
  bool drawn_ ABSL_GUARDED_BY(mu_) = false;  // the start's draw is done
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_UPLINK_COLLECTOR_TARGETS_H_
