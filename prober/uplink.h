// Uplink: streams results to the collector over Ingest.Report (batches up,
// acks down) and keeps every result until its batch is acked. On a broken
// stream it reconnects with jittered exponential backoff and resends the
// unacked batches first, in order, with their original batch_seq, so the
// collector's dedup makes delivery exactly-once in effect.
//
// Thread-safe: Add() from any thread (the event loop); the stream runs on
// the Uplink's own threads. Results are buffered in memory up to a cap; past
// it the oldest are dropped and counted.
#ifndef SONDE_PROBER_UPLINK_H_
#define SONDE_PROBER_UPLINK_H_

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
#include "sonde/v1/collector.grpc.pb.h"

namespace sonde::prober {

class Uplink {
 public:
  struct Options {
    std::string prober_id;
    std::string region;
    size_t max_batch = 500;
    absl::Duration max_batch_delay = absl::Seconds(1);
    size_t max_unacked_batches = 8;
    size_t max_buffered = 1'000'000;  // results waiting to be batched
    absl::Duration backoff_initial = absl::Seconds(1);
    absl::Duration backoff_max = absl::Seconds(120);
  };
  struct Stats {
    uint64_t added = 0;
    uint64_t sent_batches = 0;
    uint64_t acked_batches = 0;
    uint64_t acked_results = 0;
    uint64_t duplicates = 0;
    uint64_t dropped = 0;
    uint64_t reconnects = 0;
    bool connected = false;
  };

  Uplink(std::shared_ptr<grpc::Channel> channel, Options options);
  ~Uplink();  // Stop(absl::ZeroDuration()) if still running

  void Start();
  // Assigns the result's seq and queues it. Never blocks on the network.
  void Add(v1::ProbeResult result);
  // Tries for up to `grace` to get everything acked, then stops the threads.
  void Stop(absl::Duration grace);

  Stats stats() const;
  // Results not yet acked (queued + in flight).
  size_t backlog() const;

 private:
  void Run();
  bool StreamOnce();  // one connection; returns true if it got any ack
  bool NextBatch(v1::ResultBatch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ingest::Stub> stub_;
  Options options_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_);
  uint64_t next_batch_seq_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::ProbeResult> pending_ ABSL_GUARDED_BY(mu_);
  absl::Time oldest_pending_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::ResultBatch> unacked_ ABSL_GUARDED_BY(mu_);
  size_t unacked_sent_ ABSL_GUARDED_BY(mu_) = 0;  // of unacked_, written on this stream
  grpc::ClientContext* active_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_UPLINK_H_
