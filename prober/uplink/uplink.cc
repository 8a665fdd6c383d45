#include "prober/uplink/uplink.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/proto_time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"

namespace sonde::prober {

Uplink::Uplink(std::shared_ptr<CollectorTargets> targets, Options options)
    : targets_(std::move(targets)),
      report_method_(absl::StrCat("/", v1::Ingest::service_full_name(), "/Report")),
      options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Uplink>> Uplink::Create(std::shared_ptr<CollectorTargets> targets,
                                                       Options options) {
  std::unique_ptr<Uplink> u(new Uplink(std::move(targets), std::move(options)));
  // Sequences start at the clock (microseconds) and above anything spooled,
  // so they keep increasing across restarts; within a run they are contiguous.
  uint64_t base = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  absl::MutexLock l(&u->mu_);
  absl::MutexLock p(&u->pending_mu_);
  if (!u->options_.spool_dir.empty()) {
    Spool::Options so;
    so.dir = u->options_.spool_dir;
    so.max_bytes = u->options_.spool_max_bytes;
    auto spool = Spool::Open(so);
    if (!spool.ok()) {
      return spool.status();
    }
    u->spool_ = *std::move(spool);
    u->next_seq_ = std::max(base, u->spool_->max_result_seq() + 1);
    u->next_batch_seq_ = std::max(base, u->spool_->max_batch_seq() + 1);
  } else {
    u->next_seq_ = base;
    u->next_batch_seq_ = base;
  }
  return u;
}

grpc::ChannelArguments Uplink::ChannelArguments(const Options& options) {
  grpc::ChannelArguments args;
  // gRPC reconnects a channel on its own schedule and, until its next
  // attempt, fails every call with the error it cached. Pinning its backoff
  // to connect_retry (initial = max: no growth) makes every attempt a real
  // one at most connect_retry apart, so a collector listening again is seen
  // within that, however long it was away.
  const int retry_ms = static_cast<int>(absl::ToInt64Milliseconds(options.connect_retry));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, retry_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, retry_ms);
  // A connection that closes makes gRPC resolve the target again before it
  // reconnects, and it resolves at most every 30 s by default: that, not
  // the backoff, kept probers away from a restarted collector for up to
  // 30 s. Resolving (an IP literal costs nothing; a name goes to the
  // system's cache) is allowed as often as a connect attempt.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, retry_ms);
  // What gRPC calls the minimum reconnect backoff is the time one connect
  // attempt (TCP, TLS, HTTP/2 settings) is given.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.connect_timeout)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  return args;
}

Uplink::~Uplink() { Stop(absl::ZeroDuration()); }

void Uplink::Start() {
  thread_ = std::thread([this] { Run(); });
  keeper_ = std::thread([this] { Keep(); });
}

void Uplink::Keep() {
  absl::MutexLock l(&mu_);
  while (!keeper_stop_) {
    AwaitWake(NextDue(), &keeper_seen_);
    FormBatches(false);
    if (spool_) {
      spool_->MaybeSync();
    }
    // A stream the collector holds (flow control) keeps the writer in
    // Write(); a due stop must not wait for it.
    if (StopDue() && stream_ctx_ != nullptr) {
      stream_ctx_->TryCancel();
    }
  }
}

absl::Time Uplink::NextDue() const {
  const absl::Time now = absl::Now();
  // A result added after this is due max_batch_delay after it, so waking
  // then is never late; a full batch wakes the threads itself (Add).
  absl::Time due = now + options_.max_batch_delay;
  {
    absl::MutexLock p(&pending_mu_);
    if (PendingCount() >= options_.max_batch || pending_bytes_ >= options_.max_batch_bytes) {
      return now;
    }
    if (PendingCount() > 0) {
      due = oldest_pending_ + options_.max_batch_delay;
    }
  }
  if (spool_) {
    due = std::min(due, spool_->NextSyncDue());
  }
  if (stopping_ && stop_deadline_ > now) {
    due = std::min(due, stop_deadline_);
  }
  return due;
}

void Uplink::Wake() {
  absl::MutexLock w(&wake_mu_);
  ++wakes_;
  wake_cv_.SignalAll();
}

void Uplink::AwaitWake(absl::Time deadline, uint64_t* seen) {
  mu_.Unlock();
  {
    absl::MutexLock w(&wake_mu_);
    while (wakes_ == *seen && !wake_cv_.WaitWithDeadline(&wake_mu_, deadline)) {
    }
    *seen = wakes_;
  }
  mu_.Lock();
}

void Uplink::Add(v1::ProbeResult* r) {
  const v1::ProbeResult& result = *r;
  bool full = false;
  {
    absl::MutexLock l(&pending_mu_);
    r->set_seq(next_seq_++);
    if (PendingCount() == 0) {
      oldest_pending_ = absl::Now();
    }
    if (result.failure_class() != v1::FailureClass::OK) {
      ++failures_[result.failure_class()];
    }
    // Serialised here, once: the batch, the spool and the stream use these
    // bytes, and the message stays with the caller's thread, where it was made.
    const size_t size = AppendEncodedResult(result, &pending_buf_);
    pending_.push_back(
        {result.seq(), common::ToTime(result.start_time()), static_cast<uint32_t>(size)});
    pending_bytes_ += size;
    added_++;
    // The uplink threads sleep until the oldest result's max_batch_delay:
    // a batch that fills before that wakes them (once, as it fills).
    full =
        PendingCount() == options_.max_batch || (pending_bytes_ >= options_.max_batch_bytes &&
                                                 pending_bytes_ - size < options_.max_batch_bytes);
    if (PendingCount() > options_.max_buffered) {
      pending_bytes_ -= pending_[pending_first_].size;
      pending_head_ += pending_[pending_first_].size;
      pending_first_++;
      dropped_pending_++;
      CompactPending();
    }
  }
  if (full) {
    Wake();
  }
}

void Uplink::CompactPending() {
  if (pending_first_ > pending_.size() / 2) {
    // What was taken or dropped goes once it is the larger part (amortised
    // O(1); at most twice the results pending are held).
    pending_buf_.erase(0, pending_head_);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(pending_first_));
    pending_head_ = 0;
    pending_first_ = 0;
  }
}

void Uplink::TakePending(size_t n, size_t bytes, std::string* out, ResultsMeta* meta) {
  meta->results = static_cast<uint32_t>(n);
  meta->first_start = pending_[pending_first_].start;
  meta->first_seq = pending_[pending_first_].seq;
  meta->last_seq = pending_[pending_first_ + n - 1].seq;
  out->assign(pending_buf_, pending_head_, bytes);
  pending_head_ += bytes;
  pending_first_ += n;
  pending_bytes_ -= bytes;
  if (PendingCount() == 0) {
    pending_buf_.clear();
    pending_.clear();
    pending_head_ = 0;
    pending_first_ = 0;
    // A backlog that piled up here (the uplink threads stalled) does not
    // keep its memory.
    constexpr size_t kKeepBytes = 16u << 20;
    if (pending_buf_.capacity() > kKeepBytes) {
      std::string().swap(pending_buf_);
      std::vector<PendingResult>().swap(pending_);
    }
  } else {
    CompactPending();
  }
}

void Uplink::Stop(absl::Duration grace) {
  {
    absl::MutexLock l(&mu_);
    if (stopping_ && !thread_.joinable()) {
      return;
    }
    stopping_ = true;
    stop_deadline_ = absl::Now() + grace;
  }
  Wake();
  if (thread_.joinable()) {
    thread_.join();
  }
  {
    absl::MutexLock l(&mu_);
    keeper_stop_ = true;
  }
  Wake();
  if (keeper_.joinable()) {
    keeper_.join();
  }
  absl::MutexLock l(&mu_);
  FormBatches(true);  // with a spool, nothing produced is left behind
  if (spool_) {
    spool_->Sync();
  }
}

Uplink::Stats Uplink::stats() const {
  absl::MutexLock l(&mu_);
  Stats s = stats_;
  {
    absl::MutexLock p(&pending_mu_);
    s.added = added_;
    s.failures = failures_;
    s.dropped += dropped_pending_;
  }
  if (spool_) {
    Spool::Stats ss = spool_->stats();
    s.spool_bytes = ss.bytes;
    s.spool_write_errors = ss.write_errors;
    s.spool_unreadable = ss.unreadable_records;
    s.spool_sync_errors = ss.sync_errors;
    s.dropped += ss.dropped_results;
    s.oldest_unacked = ss.oldest_unacked;
  } else {
    s.oldest_unacked = MemoryOldestUnacked();
  }
  return s;
}

absl::Time Uplink::MemoryOldestUnacked() const {
  if (!memory_.empty() && memory_.front().meta.results > 0) {
    return absl::FromUnixSeconds(absl::ToUnixSeconds(memory_.front().meta.first_start));
  }
  return absl::InfiniteFuture();
}

const v1::ProberStatus& Uplink::CurrentStatus() {
  const absl::Time now = absl::Now();
  if (common::IsSet(status_.as_of()) &&
      now - common::ToTime(status_.as_of()) < options_.status_every) {
    return status_;
  }
  status_.set_version(options_.version);
  common::SetDuration(absl::Microseconds(lateness_p99_us_.load(std::memory_order_relaxed)),
                      status_.mutable_lateness_p99());
  absl::Time oldest = absl::InfiniteFuture();
  if (spool_) {
    const Spool::Stats ss = spool_->stats();
    status_.set_spool_bytes(ss.bytes);
    status_.set_unacked_results(ss.unacked_results);
    oldest = ss.oldest_unacked;
  } else {
    status_.set_unacked_results(memory_results_);
    oldest = MemoryOldestUnacked();
  }
  common::SetDuration(oldest < now ? now - oldest : absl::ZeroDuration(),
                      status_.mutable_oldest_unacked_age());
  common::SetTimestamp(now, status_.mutable_as_of());
  return status_;
}

size_t Uplink::backlog() const {
  absl::MutexLock l(&mu_);
  size_t n;
  {
    absl::MutexLock p(&pending_mu_);
    n = PendingCount();
  }
  return n + (spool_ ? spool_->stats().unacked_results : memory_results_);
}

bool Uplink::GapsPending() const { return spool_ ? spool_->has_gaps() : !memory_gaps_.empty(); }

void Uplink::FormBatches(bool force) {
  std::string results;  // kept for its capacity from batch to batch
  while (true) {
    v1::ResultBatch header;
    ResultsMeta meta;
    {
      absl::MutexLock p(&pending_mu_);
      if (PendingCount() == 0) {
        break;
      }
      bool due = force || PendingCount() >= options_.max_batch ||
                 pending_bytes_ >= options_.max_batch_bytes ||
                 absl::Now() - oldest_pending_ >= options_.max_batch_delay;
      if (!due) {
        return;
      }
      // Up to max_batch results and max_batch_bytes, but at least one: a
      // result larger than the cap travels alone.
      size_t n = 0;
      size_t bytes = 0;
      while (n < std::min(PendingCount(), options_.max_batch)) {
        const size_t b = pending_[pending_first_ + n].size;
        if (n > 0 && bytes + b > options_.max_batch_bytes) {
          break;
        }
        bytes += b;
        ++n;
      }
      TakePending(n, bytes, &results, &meta);
      if (PendingCount() > 0) {
        oldest_pending_ = absl::Now();
      } else if (running_since_.has_value()) {
        // Under the lock set_running_since takes: nothing that ends before
        // this is still to come (set_running_since).
        common::SetTimestamp(std::min(absl::Now(), *running_since_),
                             header.mutable_complete_before());
      }
    }
    StoreEncoded(std::move(header), results, meta);
  }
  // Everything is in batches. A loss not yet reported would otherwise wait
  // for the next result, which a stopping prober never makes: when forced,
  // it goes into a batch of its own (spooled like any other, so it is sent
  // before exit or by the next run). Storing that batch can drop a segment
  // and with it gaps again; the bound keeps a tiny cap from looping.
  for (int i = 0; force && i < 4 && GapsPending(); ++i) {
    StoreBatch(v1::ResultBatch());
  }
}

void Uplink::StoreBatch(v1::ResultBatch batch) {
  std::string results;
  for (const v1::ProbeResult& r : batch.results()) {
    AppendEncodedResult(r, &results);
  }
  const ResultsMeta meta = MetaOf(batch);
  batch.clear_results();
  StoreEncoded(std::move(batch), results, meta);
}

void Uplink::StoreEncoded(v1::ResultBatch header, absl::string_view results,
                          const ResultsMeta& meta) {
  header.set_prober_id(options_.prober_id);
  header.set_region(options_.region);
  header.set_batch_seq(next_batch_seq_++);
  *header.mutable_prober_status() = CurrentStatus();
  if (spool_) {
    for (v1::Gap& g : spool_->TakeGaps()) {
      *header.add_gaps() = std::move(g);
    }
  } else {
    for (v1::Gap& g : memory_gaps_) {
      *header.add_gaps() = std::move(g);
    }
    memory_gaps_.clear();
  }
  EncodedBatch batch = EncodeBatch(header, results, meta);
  if (spool_) {
    absl::Status st = spool_->Append(batch);
    if (!st.ok()) {
      // A full or failing disk must not stop probing or delivery: keep the
      // batch in memory (bounded) and say so.
      spdlog::error("spool: {}; keeping batch {} in memory", st.message(), batch.batch_seq);
      stats_.spool_write_errors++;
      memory_results_ += batch.meta.results;
      memory_.push_back(std::move(batch));
    }
  } else {
    memory_results_ += batch.meta.results;
    memory_.push_back(std::move(batch));
  }
  stats_.spooled_batches++;
  // The memory store is bounded: drop the oldest batches, remember the gap.
  while (memory_results_ > options_.max_buffered && !memory_.empty()) {
    const EncodedBatch& old = memory_.front();
    v1::Gap gap;
    gap.set_results(old.meta.results);
    gap.set_first_batch_seq(old.batch_seq);
    gap.set_last_batch_seq(old.batch_seq);
    memory_gaps_.push_back(gap);
    for (const v1::Gap& carried : old.gaps) {
      memory_gaps_.push_back(carried);
    }
    stats_.dropped += old.meta.results;
    memory_results_ -= old.meta.results;
    memory_.pop_front();
  }
}

std::optional<EncodedBatch> Uplink::NextToSend() {
  // Memory-held batches (no spool, or spool write errors) interleave by seq.
  std::optional<EncodedBatch> from_spool;
  if (spool_) {
    from_spool = spool_->NextEncoded(last_sent_);
  }
  for (const EncodedBatch& b : memory_) {
    if (b.batch_seq > last_sent_ && (!from_spool || b.batch_seq < from_spool->batch_seq)) {
      return b;
    }
  }
  return from_spool;
}

void Uplink::AckUpTo(uint64_t batch_seq, bool duplicate, bool acked) {
  if (batch_seq <= last_acked_) {
    return;
  }
  last_acked_ = batch_seq;
  if (in_flight_ > 0) {
    in_flight_--;
  }
  uint64_t results = 0;
  if (spool_) {
    uint64_t before = spool_->stats().unacked_results;
    spool_->Ack(batch_seq);
    results += before - spool_->stats().unacked_results;
  }
  while (!memory_.empty() && memory_.front().batch_seq <= batch_seq) {
    results += memory_.front().meta.results;
    memory_results_ -= memory_.front().meta.results;
    memory_.pop_front();
  }
  if (acked) {
    stats_.acked_batches++;
    stats_.duplicates += duplicate ? 1 : 0;
    stats_.acked_results += results;
  }
}

bool Uplink::Drained() const {
  absl::MutexLock p(&pending_mu_);
  return PendingCount() == 0 && memory_.empty() && !GapsPending() &&
         (!spool_ || spool_->stats().unacked_batches == 0);
}

bool Uplink::StopDue() const { return stopping_ && (absl::Now() >= stop_deadline_ || Drained()); }

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
    grpc::Slice slice(to_send->bytes.data(), to_send->bytes.size());
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
