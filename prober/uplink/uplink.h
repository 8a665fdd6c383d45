// Uplink: streams results to the collector over Ingest.Report (batches up,
// acks down) and keeps every batch until it is acked: in the on-disk Spool
// when the prober has a spool directory, otherwise in memory (lost if the
// prober dies). Batches are formed every 500 results, 4 MiB or 1 s, even
// while the collector is unreachable (a keeper thread forms and syncs them
// while the stream writer waits on flow control). At most 8 batches are in
// flight: that is the window, not a rate -- a backlog goes out as fast as
// the collector acks, and a collector that holds the stream unread (its
// database is away) pushes back onto the spool without ending anything.
// The batch that empties the pending queue carries complete_before (see
// set_running_since): the collector's detection then need not wait out its
// reorder window for this prober's results.
//
// Reconnecting is the Uplink's decision (docs/operations.md, "Reconnect"):
// with several collector replicas (CollectorTargets), a stream that ends
// without an ack moves to the next replica at once, each replica is tried
// once before the backoff below applies, a replica that comes back while
// the current one is down is taken at once, and a stream that worked and
// ended (the replica's maximum connection age) reopens on the first,
// preferred replica -- or, when the acks say the replicas run in cluster
// mode (Ack.spread), on one drawn at random; the first such ack since start
// draws one too and, when it is another replica, the stream ends once its
// batches are acked and reopens there.
// With one collector:
// ChannelArguments() pins gRPC's own connect backoff to `connect_retry`
// (1 s, no growth), so a collector that cannot be reached is tried for real
// every second and the stream reopens the moment the channel is READY
// again; Sonde's backoff (1 s x1.6 +-20 %) meanwhile grows to
// `backoff_max` and only paces forced resets of gRPC's connect backoff.
// A collector that is reachable but ends or refuses streams is retried with
// the same backoff capped at `refused_backoff_max` (5 s). Unacked batches are
// resent first, in order, with their original batch_seq, so the collector's
// dedup makes delivery exactly-once in effect. A batch the collector refuses
// as INVALID_ARGUMENT, or as too large (RESOURCE_EXHAUSTED) once it is the
// only one in flight, is split in two when it holds several results, else
// dropped and reported to the collector as a Gap (counted).
//
// Each result is serialised once, by Add() on the event loop (which also
// frees it, so no allocation of the loop is freed on another thread); a
// batch is its header followed by those bytes (encoded_batch.h), and the
// same bytes are written to the spool and onto the stream.
//
// Thread-safe. Add() is called from the event loop and only takes a short
// lock on the pending queue (and, when a batch is full, the wake-up lock);
// disk and network work happen on the Uplink's own threads (uplink, keeper,
// and one ack reader per stream). Those sleep until something is due (a
// batch's delay, the spool's sync, the stop deadline) or they are woken (a
// full batch, an ack, Stop): an idle prober's uplink does not poll.
#ifndef SONDE_PROBER_UPLINK_UPLINK_H_
#define SONDE_PROBER_UPLINK_UPLINK_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "prober/uplink/collector_targets.h"
#include "prober/uplink/encoded_batch.h"
#include "prober/uplink/spool.h"
#include "sonde/v1/collector.grpc.pb.h"

namespace sonde::prober {

class Uplink {
 public:
  struct Options {
    std::string prober_id;
    std::string region;
    std::string spool_dir;                           // "" = keep unacked batches in memory only
    std::string bearer_token;                        // sent as "authorization: Bearer ..." when set
    std::string version;                             // the prober's, in every batch's ProberStatus
    absl::Duration status_every = absl::Seconds(1);  // ProberStatus recomputed at most this often
    uint64_t spool_max_bytes = 512ull << 20;
    size_t max_batch = 500;
    size_t max_batch_bytes = 4u << 20;  // serialized results per batch
    absl::Duration max_batch_delay = absl::Seconds(1);
    size_t max_unacked_batches = 8;
    size_t max_buffered = 1'000'000;  // results in memory (pending + memory store)
    absl::Duration backoff_initial = absl::Seconds(1);
    absl::Duration backoff_max = absl::Seconds(120);        // collector unreachable
    absl::Duration refused_backoff_max = absl::Seconds(5);  // reachable, ends streams
    absl::Duration connect_retry = absl::Seconds(1);        // gRPC's connect attempts
    absl::Duration connect_timeout = absl::Seconds(5);      // one connect attempt
  };
  struct Stats {
    uint64_t added = 0;               // results handed to Add()
    uint64_t spooled_batches = 0;     // batches written to the spool (or memory)
    uint64_t sent_batches = 0;        // batches written to a stream (resends count)
    uint64_t acked_batches = 0;       // batches the collector acknowledged
    uint64_t acked_results = 0;       // and their results
    uint64_t duplicates = 0;          // acks saying the collector had the batch already
    uint64_t dropped = 0;             // results lost: buffer or spool cap, refused batches
    uint64_t refused_batches = 0;     // refused by the collector, dropped as a gap
    uint64_t split_batches = 0;       // refused by the collector, resent in two halves
    uint64_t reconnects = 0;          // streams that ended (each is reopened)
    uint64_t spool_bytes = 0;         // on disk now
    uint64_t spool_write_errors = 0;  // appends that failed (the batch stays in memory)
    uint64_t spool_unreadable = 0;    // records the spool could not read (each a gap)
    uint64_t spool_sync_errors = 0;   // fdatasync / directory fsync failures
    absl::Time oldest_unacked = absl::InfiniteFuture();
    bool connected = false;
    std::map<int, uint64_t> failures;  // results added that failed, by FailureClass code
  };

  // The channel arguments that make gRPC's reconnects agree with the
  // Uplink's: connect attempts every `connect_retry`, each given
  // `connect_timeout`, and keepalive pings. Build the channel with them.
  static grpc::ChannelArguments ChannelArguments(const Options& options);

  // Opens the spool (recovering what an earlier run left) when configured.
  static absl::StatusOr<std::unique_ptr<Uplink>> Create(std::shared_ptr<CollectorTargets> targets,
                                                        Options options);
  // One collector.
  static absl::StatusOr<std::unique_ptr<Uplink>> Create(std::shared_ptr<grpc::Channel> channel,
                                                        Options options) {
    return Create(CollectorTargets::Single(std::move(channel)), std::move(options));
  }
  ~Uplink();  // Stop(absl::ZeroDuration()) if still running

  void Start();
  // Assigns the result's seq, serialises it with the stamp's fields and
  // queues the bytes (the caller keeps the message, to reuse it). Never
  // blocks on disk or network.
  void Add(const ResultStamp& stamp, v1::ProbeResult* result);
  // A result whose message holds its stamp's fields already.
  void Add(v1::ProbeResult result) { Add(ResultStamp(), &result); }
  // Tries for up to `grace` to get everything acked, then stops the threads.
  // Losses the spool has not reported yet go out in a batch of their own
  // (no results). With a spool, whatever is left -- that batch included --
  // stays on disk for the next run.
  void Stop(absl::Duration grace);

  Stats stats() const;
  // The scheduler's lateness p99, carried in the ProberStatus of the batches
  // formed from now on. Any thread (the prober's loop sets it every second).
  void set_lateness_p99(absl::Duration d) {
    lateness_p99_us_.store(absl::ToInt64Microseconds(d), std::memory_order_relaxed);
  }
  // The start of the earliest probe run still going, InfiniteFuture when
  // none (Scheduler::set_running_since_sink): call it from the thread that
  // calls Add(), after a run's results were added and before a run's start
  // time is read. A batch that takes every pending result carries
  // min(now, that start) as ResultBatch.complete_before: every later result
  // belongs to a run going or not started yet, so it ends after that. Never
  // called (a prober without a scheduler): no complete_before.
  void set_running_since(absl::Time t) {
    absl::MutexLock p(&pending_mu_);
    running_since_ = t;
  }
  // Results not yet acked (pending + stored).
  size_t backlog() const;

 private:
  Uplink(std::shared_ptr<CollectorTargets> targets, Options options);
  void Run();
  // Forms and syncs batches when they are due, whatever the stream does,
  // and cancels a stream that blocks a due stop.
  void Keep();
  // One stream; returns its final status, and in *progressed whether it got
  // any ack.
  grpc::Status StreamOnce(bool* progressed);
  // Waits between streams: until `wait` has passed with the current
  // target's channel READY, or at once when a target's channel becomes READY
  // after being down (a collector is back; it becomes the current target).
  // Keeps batching meanwhile.
  void AwaitRetry(absl::Duration wait) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The collector refused the oldest unacked batch (`status`): split it or
  // drop it as a gap. Returns false if nothing was unacked.
  bool Refused(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves pending results into stored batches (all of them when `force`).
  // When `force`d it also stores a batch without results for losses not yet
  // reported, so that a stopping prober keeps them.
  void FormBatches(bool force) ABSL_LOCKS_EXCLUDED(pending_mu_) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stamps `header` (ids, next batch_seq, pending gaps, ProberStatus), puts
  // it before `results` (encoded results, described by `meta`) and stores
  // the batch.
  void StoreEncoded(v1::ResultBatch header, absl::string_view results, const ResultsMeta& meta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The same for a batch whose results are messages (split and gap batches).
  void StoreBatch(v1::ResultBatch batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the first `n` pending results (`bytes` encoded) into `out`; all
  // of them (the usual case) by trading buffers with `out`, without a copy.
  void TakePending(size_t n, size_t bytes, std::string* out, ResultsMeta* meta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(pending_mu_);
  // Drops the taken or dropped front of the pending queue once it is the
  // larger part.
  void CompactPending() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pending_mu_);
  size_t PendingCount() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(pending_mu_) {
    return pending_.size() - pending_first_;
  }
  bool GapsPending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The memory store's oldest unacked result start (infinite: none).
  absl::Time MemoryOldestUnacked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ProberStatus stamped into every batch, recomputed at most every
  // options_.status_every (the spool's stats walk its index).
  const v1::ProberStatus& CurrentStatus() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<EncodedBatch> NextToSend() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes batches up to `batch_seq`; `acked`: the collector stored them
  // (counted as acked), else they were refused and are dropped.
  void AckUpTo(uint64_t batch_seq, bool duplicate, bool acked = true)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Drained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StopDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When the uplink threads next have something to do without being woken:
  // the pending results' max_batch_delay, the spool's sync, the stop
  // deadline (InfiniteFuture: nothing).
  absl::Time NextDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the uplink threads (Stop, an ack, the stream's end, a full batch
  // pending). Takes only wake_mu_, so Add() can call it.
  void Wake() ABSL_LOCKS_EXCLUDED(wake_mu_);
  // Sleeps with mu_ released until `deadline` or until Wake() was called
  // since this thread's last wake-up (`*seen`: the wake count it saw).
  // Waiting on stopping_ instead would spin once it is set, and starve the
  // ack reader of mu_ just when acks are awaited.
  void AwaitWake(absl::Time deadline, uint64_t* seen) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<CollectorTargets> targets_;
  // Ingest.Report's path: the stream sends the batches' bytes as they are.
  const std::string report_method_;
  size_t stream_target_ = 0;  // the last stream's target; the uplink thread's
  Options options_;
  std::thread thread_;
  std::thread keeper_;

  // The event loop's side: results not yet in a batch.
  mutable absl::Mutex pending_mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(pending_mu_) = 0;
  // Results serialised by Add(), in order: bytes [pending_head_, end) of
  // pending_buf_, described by pending_[pending_first_, end). Both keep
  // their capacity, so Add() allocates nothing in the steady state.
  struct PendingResult {
    uint64_t seq;
    absl::Time start;
    uint32_t size;  // encoded, field tag and length included
  };
  std::string pending_buf_ ABSL_GUARDED_BY(pending_mu_);
  size_t pending_head_ ABSL_GUARDED_BY(pending_mu_) = 0;
  std::vector<PendingResult> pending_ ABSL_GUARDED_BY(pending_mu_);
  size_t pending_first_ ABSL_GUARDED_BY(pending_mu_) = 0;
  absl::Time oldest_pending_ ABSL_GUARDED_BY(pending_mu_);
  std::optional<absl::Time> running_since_ ABSL_GUARDED_BY(pending_mu_);  // set_running_since
  size_t pending_bytes_ ABSL_GUARDED_BY(pending_mu_) = 0;                 // of results
  // The results of the batch being formed (FormBatches). It trades buffers
  // with pending_buf_ (TakePending), so both keep their capacity.
  std::string taken_ ABSL_GUARDED_BY(mu_);
  uint64_t added_ ABSL_GUARDED_BY(pending_mu_) = 0;
  uint64_t dropped_pending_ ABSL_GUARDED_BY(pending_mu_) = 0;
  std::map<int, uint64_t> failures_ ABSL_GUARDED_BY(pending_mu_);  // bounded by the enum

  // The uplink threads' side: stored batches and the stream.
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool keeper_stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t writer_seen_ = 0;  // wakes_ the uplink thread saw (its own)
  uint64_t keeper_seen_ = 0;  // and the keeper (its own)
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint64_t next_batch_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<Spool> spool_ ABSL_GUARDED_BY(mu_);     // disk, or
  std::deque<EncodedBatch> memory_ ABSL_GUARDED_BY(mu_);  // memory store
  std::atomic<int64_t> lateness_p99_us_{0};
  // Wake(): counted, so that each uplink thread sees every wake-up that
  // came after its last one, however the two interleave. Taken last (after
  // mu_ or pending_mu_), never held while taking another.
  absl::Mutex wake_mu_;
  absl::CondVar wake_cv_;
  uint64_t wakes_ ABSL_GUARDED_BY(wake_mu_) = 0;
  v1::ProberStatus status_ ABSL_GUARDED_BY(mu_);  // CurrentStatus()'s cache
  uint64_t memory_results_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::Gap> memory_gaps_ ABSL_GUARDED_BY(mu_);
  uint64_t last_sent_ ABSL_GUARDED_BY(mu_) = 0;  // batch_seq written on this stream
  uint64_t last_acked_ ABSL_GUARDED_BY(mu_) = 0;
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // A batch was refused as too large: the next stream sends one batch at a
  // time until an ack, so that a second refusal names the culprit.
  bool one_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* stream_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;  // the open stream's
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_UPLINK_UPLINK_H_
