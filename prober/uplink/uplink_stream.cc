// The uplink's stream side (class Uplink, prober/uplink/uplink.h): the
// writer thread's loop over streams to the collectors, the backoff between
// them, one stream's life (send the encoded batches, read the acks), and
// which ends of a stream are refusals. The queue, the spool and batch
// forming are in uplink.cc.
#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include "absl/strings/match.h"
#include "common/logging.h"
#include "common/proto_time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "prober/uplink/uplink.h"

namespace sonde::prober {

void Uplink::Run() {
  absl::Duration backoff = options_.backoff_initial;
  size_t failed_in_row = 0;  // streams ended without an ack, one after the other
  std::mt19937_64 rng(std::random_device{}());
  while (true) {
    bool progressed = false;
    const grpc::Status st = StreamOnce(&progressed);
    absl::MutexLock l(&mu_);
    if (StopDue()) {
      break;
    }
    if (progressed) {
      backoff = options_.backoff_initial;
    }
    stats_.reconnects++;
    if (Refused(st)) {
      continue;  // the refused batch is out of the way: go on at once
    }
    failed_in_row = progressed ? 0 : failed_in_row + 1;
    if (targets_->size() > 1) {
      // Another replica stores the same batches (dedup makes the resend
      // harmless): try each once before backing off.
      const size_t next =
          progressed ? targets_->Prefer(stream_target_) : targets_->Failed(stream_target_);
      if (failed_in_row < targets_->size()) {
        if (next != stream_target_) {
          spdlog::warn("collector {} stream ended ({}); streaming to {}",
                       targets_->address(stream_target_), st.error_message(),
                       targets_->address(next));
        }
        continue;
      }
    }
    // A collector that is reachable but ended the stream (shutting down,
    // refusing credentials, failing) can change its mind at any moment and
    // a retry costs it one call: a few seconds at most. One that cannot be
    // reached is watched through the channel instead (AwaitRetry).
    const bool reachable =
        targets_->channel(targets_->current())->GetState(/*try_to_connect=*/false) ==
        GRPC_CHANNEL_READY;
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const absl::Duration wait =
        (reachable ? std::min(backoff, options_.refused_backoff_max) : backoff) * jitter(rng);
    if (reachable) {
      spdlog::warn("collector stream ended ({}: {}); retrying in {}",
                   static_cast<int>(st.error_code()), st.error_message(),
                   absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(1))));
    } else {
      spdlog::warn(
          "collector unreachable ({}); streaming again as soon as it accepts a connection "
          "(tried every {})",
          st.error_message(), absl::FormatDuration(options_.connect_retry));
    }
    AwaitRetry(wait);
    if (StopDue()) {
      break;
    }
    backoff = std::min(backoff * 1.6, options_.backoff_max);
  }
}

void Uplink::AwaitRetry(absl::Duration wait) {
  absl::Time until = absl::Now() + wait;
  absl::Duration period = wait;
  const size_t n = targets_->size();
  std::vector<bool> was_down(n, false);
  while (!StopDue()) {
    FormBatches(false);
    if (spool_) {
      spool_->MaybeSync();
    }
    const size_t current = targets_->current();
    bool current_ready = false;
    bool waited = false;
    for (size_t i = 0; i < n; ++i) {
      grpc::Channel* channel = targets_->channel(i).get();
      // try_to_connect: an IDLE channel starts connecting; gRPC then retries
      // every connect_retry (ChannelArguments).
      grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
      if (state != GRPC_CHANNEL_READY) {
        // Waiting *in gRPC* is what drives the connection attempt: with no
        // call in flight nothing else polls its socket, and gRPC's backup
        // poller looks only every 5 s -- a connect to a collector that
        // listens again would finish seconds late.
        mu_.Unlock();
        channel->WaitForStateChange(
            state, std::chrono::system_clock::now() + std::chrono::milliseconds(100 / n));
        mu_.Lock();
        waited = true;
        state = channel->GetState(/*try_to_connect=*/true);
      }
      if (state != GRPC_CHANNEL_READY) {
        was_down[i] = true;
        continue;
      }
      if (was_down[i]) {
        spdlog::info("collector {} reachable again; resending now", targets_->address(i));
        targets_->Select(i);
        return;
      }
      current_ready |= i == current;
    }
    const absl::Time now = absl::Now();
    if (current_ready) {
      if (now >= until) {
        return;
      }
    } else if (now >= until) {
      // Sonde's own retry is due while the channel is still down: make
      // gRPC attempt now rather than trust a failure it cached.
      for (size_t i = 0; i < n; ++i) {
        grpc::experimental::ChannelResetConnectionBackoff(targets_->channel(i).get());
      }
      period = std::min(period * 1.6, options_.backoff_max);
      until = now + period;
    }
    if (!waited) {
      AwaitWake(absl::Now() + absl::Milliseconds(100), &writer_seen_);
    }
  }
}

grpc::Status Uplink::StreamOnce(bool* progressed) {
  grpc::ClientContext ctx;
  if (!options_.bearer_token.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + options_.bearer_token);
  }
  {
    absl::MutexLock l(&mu_);
    if (StopDue()) {
      return grpc::Status::CANCELLED;
    }
    last_sent_ = last_acked_;  // resend everything unacked, in order
    in_flight_ = 0;
    stream_ctx_ = &ctx;
    stream_target_ = targets_->current();
  }
  // Ingest.Report with the request side as raw bytes: a batch goes out as
  // it was spooled, not parsed and serialised again (the generated stub
  // makes the same call with ResultBatch messages).
  grpc::ChannelInterface* channel = targets_->channel(stream_target_).get();
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, v1::Ack>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, v1::Ack>::Create(
          channel,
          grpc::internal::RpcMethod(report_method_.c_str(),
                                    grpc::internal::RpcMethod::BIDI_STREAMING),
          &ctx));
  std::atomic<bool> got_ack{false};
  std::atomic<bool> reader_done{false};
  // Cluster mode learned at start: the stream ends once its batches are
  // acked, and the next goes to the replica drawn (CollectorTargets).
  bool moving = false;  // guarded by mu_

  std::thread reader([&] {
    v1::Ack ack;
    while (stream->Read(&ack)) {
      absl::MutexLock l(&mu_);
      AckUpTo(ack.batch_seq(), ack.duplicate());
      if (targets_->LearnSpread(ack.spread(), stream_target_)) {
        moving = true;
        spdlog::info("collectors run in cluster mode; moving to {} (drawn at random)",
                     targets_->address(targets_->current()));
      }
      got_ack = true;
      one_in_flight_ = false;
      stats_.connected = true;
      Wake();  // room for another batch; or, stopping, maybe drained
    }
    absl::MutexLock l(&mu_);
    reader_done = true;
    Wake();
  });

  bool ok = true;
  while (ok) {
    std::optional<EncodedBatch> to_send;
    {
      absl::MutexLock l(&mu_);
      while (true) {
        if (reader_done || StopDue() || (moving && in_flight_ == 0)) {
          break;
        }
        FormBatches(stopping_);
        if (spool_) {
          spool_->MaybeSync();
        }
        const size_t window = one_in_flight_ ? 1 : options_.max_unacked_batches;
        if (in_flight_ < window && !moving) {
          to_send = NextToSend();
          if (to_send) {
            break;
          }
        }
        AwaitWake(NextDue(), &writer_seen_);
      }
      if (!to_send) {
        break;
      }
      last_sent_ = to_send->batch_seq;
      in_flight_++;
      stats_.sent_batches++;
    }
    // May block while the collector holds the stream unread (flow control);
    // the keeper thread goes on batching and cancels it for a due stop.
    // The slice takes the batch's bytes as they are (no copy); gRPC frees
    // them once written.
    auto* bytes = new std::string(std::move(to_send->bytes));
    grpc::Slice slice(
        bytes->data(), bytes->size(), [](void* p) { delete static_cast<std::string*>(p); }, bytes);
    ok = stream->Write(grpc::ByteBuffer(&slice, 1));
  }
  stream->WritesDone();
  if (ok && !reader_done) {
    // Stopping. A failed write or a finished read means the call is over:
    // cancelling it then would replace the collector's status (say, the
    // INVALID_ARGUMENT that names a refused batch) with CANCELLED.
    ctx.TryCancel();
  }
  reader.join();
  grpc::Status st = stream->Finish();
  absl::MutexLock l(&mu_);
  stream_ctx_ = nullptr;
  stats_.connected = false;
  *progressed = got_ack;
  return st;
}

bool Uplink::Refused(const grpc::Status& st) {
  const bool invalid = st.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
  // gRPC's own refusal of a message over the receiver's limit.
  const bool too_large = st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                         absl::StrContains(st.error_message(), "larger than max");
  if (!invalid && !too_large) {
    if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
      spdlog::warn("collector stream ended: {} ({})", st.error_message(),
                   static_cast<int>(st.error_code()));
    }
    return false;
  }
  if (too_large && !one_in_flight_) {
    // Several batches were in flight and gRPC does not say which one was
    // too large: send one at a time until the collector takes one.
    spdlog::warn("collector refused a batch as too large ({}); sending one batch at a time",
                 st.error_message());
    one_in_flight_ = true;
    return true;
  }
  // The collector handles a stream's batches in order and acks each before
  // reading the next (and, for a size refusal, only one was in flight): the
  // oldest unacked batch is the one it refused.
  const uint64_t saved = last_sent_;
  last_sent_ = last_acked_;
  std::optional<EncodedBatch> encoded = NextToSend();
  last_sent_ = saved;
  if (!encoded) {
    return false;
  }
  AckUpTo(encoded->batch_seq, false, /*acked=*/false);
  // Rare: the refused batch is parsed to be split (bytes that do not parse,
  // though they passed their checksum, cannot be: they go as a gap).
  v1::ResultBatch bad;
  const bool parsed = bad.ParseFromString(encoded->bytes);
  const int n = static_cast<int>(encoded->meta.results);
  if (parsed && n > 1) {
    // Resent as two new batches (new batch_seqs, after those already
    // stored): the half without the culprit arrives, the other is split
    // again, down to the one result that cannot be sent.
    spdlog::warn("collector refused batch {} ({} results): {}; splitting it", encoded->batch_seq, n,
                 st.error_message());
    stats_.split_batches++;
    v1::ResultBatch first, second;
    *first.mutable_gaps() = bad.gaps();
    for (int i = 0; i < bad.results_size(); ++i) {
      *(i < n / 2 ? first : second).add_results() = std::move(*bad.mutable_results(i));
    }
    StoreBatch(std::move(first));
    StoreBatch(std::move(second));
    return true;
  }
  // One result (or none: a batch of gaps only) that the collector will not
  // take: drop it and report the loss as a gap of its own, so "no data"
  // shows in reports. Gaps it carried go on only if it had a result (they
  // may have been the refused part).
  spdlog::error("collector refused batch {} ({} results) as {}: {}; dropping it as a gap",
                encoded->batch_seq, n, invalid ? "invalid" : "too large", st.error_message());
  stats_.refused_batches++;
  stats_.dropped += n;
  if (n == 0) {
    return true;
  }
  v1::ResultBatch report;
  v1::Gap* gap = report.add_gaps();
  gap->set_results(n);
  gap->set_first_batch_seq(encoded->batch_seq);
  gap->set_last_batch_seq(encoded->batch_seq);
  common::SetTimestamp(encoded->meta.first_start, gap->mutable_from());
  common::SetTimestamp(encoded->meta.first_start, gap->mutable_to());
  for (const v1::Gap& carried : encoded->gaps) {
    *report.add_gaps() = carried;
  }
  StoreBatch(std::move(report));
  return true;
}

}  // namespace sonde::prober
