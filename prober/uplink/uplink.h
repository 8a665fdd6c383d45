// Uplink: streams results to the collector over Ingest.Report (batches up,
// acks down) and keeps every batch until it is acked: in the on-disk Spool
// when the prober has a spool directory, otherwise in memory (lost if the
// prober dies). Batches are formed every 500 results or 1 s, even while the
// collector is unreachable. On a broken stream it reconnects with jittered
// exponential backoff (1 s x1.6 +-20%, at most 120 s; cut short when the
// channel reconnects to a collector that was unreachable) and resends unacked
// batches first, in order, with their original batch_seq, so the collector's
// dedup makes delivery exactly-once in effect. At most 8 batches are in
// flight; the collector's flow control pushes back onto the spool.
//
// Thread-safe. Add() is called from the event loop and only takes a short
// lock on the pending queue; disk and network work happen on the Uplink's
// own threads.
#ifndef SONDE_PROBER_UPLINK_UPLINK_H_
#define SONDE_PROBER_UPLINK_UPLINK_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "prober/uplink/spool.h"
#include "sonde/v1/collector.grpc.pb.h"

namespace sonde::prober {

class Uplink {
 public:
  struct Options {
    std::string prober_id;
    std::string region;
    std::string spool_dir;     // "" = keep unacked batches in memory only
    std::string bearer_token;  // sent as "authorization: Bearer ..." when set
    uint64_t spool_max_bytes = 512ull << 20;
    size_t max_batch = 500;
    absl::Duration max_batch_delay = absl::Seconds(1);
    size_t max_unacked_batches = 8;
    size_t max_buffered = 1'000'000;  // results in memory (pending + memory store)
    absl::Duration backoff_initial = absl::Seconds(1);
    absl::Duration backoff_max = absl::Seconds(120);
  };
  struct Stats {
    uint64_t added = 0;
    uint64_t spooled_batches = 0;
    uint64_t sent_batches = 0;
    uint64_t acked_batches = 0;
    uint64_t acked_results = 0;
    uint64_t duplicates = 0;
    uint64_t dropped = 0;  // results lost: buffer or spool cap, refused batches
    uint64_t reconnects = 0;
    uint64_t spool_bytes = 0;
    uint64_t spool_write_errors = 0;
    uint64_t spool_unreadable = 0;   // records the spool could not read (each a gap)
    uint64_t spool_sync_errors = 0;  // fdatasync / directory fsync failures
    absl::Time oldest_unacked = absl::InfiniteFuture();
    bool connected = false;
  };

  // Opens the spool (recovering what an earlier run left) when configured.
  static absl::StatusOr<std::unique_ptr<Uplink>> Create(std::shared_ptr<grpc::Channel> channel,
                                                        Options options);
  ~Uplink();  // Stop(absl::ZeroDuration()) if still running

  void Start();
  // Assigns the result's seq and queues it. Never blocks on disk or network.
  void Add(v1::ProbeResult result);
  // Tries for up to `grace` to get everything acked, then stops the threads.
  // Losses the spool has not reported yet go out in a batch of their own
  // (no results). With a spool, whatever is left -- that batch included --
  // stays on disk for the next run.
  void Stop(absl::Duration grace);

  Stats stats() const;
  // Results not yet acked (pending + stored).
  size_t backlog() const;

 private:
  Uplink(std::shared_ptr<grpc::Channel> channel, Options options);
  void Run();
  bool StreamOnce();  // one connection; returns true if it got any ack
  // Moves pending results into stored batches (all of them when `force`).
  // When `force`d it also stores a batch without results for losses not yet
  // reported, so that a stopping prober keeps them.
  void FormBatches(bool force) ABSL_LOCKS_EXCLUDED(pending_mu_) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stamps `batch` (ids, next batch_seq, pending gaps) and stores it.
  void StoreBatch(v1::ResultBatch batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool GapsPending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<v1::ResultBatch> NextToSend() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AckUpTo(uint64_t batch_seq, bool duplicate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Drained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StopDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sleeps up to `timeout` or until wake_ is set (Stop, an ack, the stream's
  // end), then clears it. Waiting on stopping_ instead would spin once it is
  // set, and starve the ack reader of mu_ just when acks are awaited.
  void AwaitWake(absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
  Options options_;
  std::thread thread_;

  // The event loop's side: results not yet in a batch.
  mutable absl::Mutex pending_mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(pending_mu_) = 0;
  std::deque<v1::ProbeResult> pending_ ABSL_GUARDED_BY(pending_mu_);
  absl::Time oldest_pending_ ABSL_GUARDED_BY(pending_mu_);
  uint64_t added_ ABSL_GUARDED_BY(pending_mu_) = 0;
  uint64_t dropped_pending_ ABSL_GUARDED_BY(pending_mu_) = 0;

  // The uplink threads' side: stored batches and the stream.
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint64_t next_batch_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<Spool> spool_ ABSL_GUARDED_BY(mu_);        // disk, or
  std::deque<v1::ResultBatch> memory_ ABSL_GUARDED_BY(mu_);  // memory store
  uint64_t memory_results_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::Gap> memory_gaps_ ABSL_GUARDED_BY(mu_);
  uint64_t last_sent_ ABSL_GUARDED_BY(mu_) = 0;  // batch_seq written on this stream
  uint64_t last_acked_ ABSL_GUARDED_BY(mu_) = 0;
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_UPLINK_UPLINK_H_
