#include "prober/uplink/uplink.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/proto_time.h"

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
    // A batch is streamed from the bytes just written, not read back: the
    // newest batches not sent yet stay in memory, up to one batch at its
    // largest (more while the collector is away are read back when sent).
    so.hold_bytes = u->options_.max_batch_bytes;
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

void Uplink::Add(const ResultStamp& stamp, v1::ProbeResult* r) {
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
    const size_t size = AppendEncodedResult(result, stamp, &pending_buf_);
    pending_.push_back({result.seq(),
                        stamp.has_start() ? stamp.start : common::ToTime(result.start_time()),
                        static_cast<uint32_t>(size)});
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
  // A backlog that piled up here (the uplink threads stalled) does not keep
  // its memory: its buffer is freed below, not handed to `out`.
  constexpr size_t kKeepBytes = 16u << 20;
  if (pending_head_ == 0 && bytes == pending_buf_.size() && pending_buf_.capacity() <= kKeepBytes) {
    // All of it (the usual case): the buffer itself, no copy; `out`'s old
    // buffer (emptied below) takes the next results.
    out->swap(pending_buf_);
  } else {
    out->assign(pending_buf_, pending_head_, bytes);
  }
  pending_head_ += bytes;
  pending_first_ += n;
  pending_bytes_ -= bytes;
  if (PendingCount() == 0) {
    pending_buf_.clear();
    pending_.clear();
    pending_head_ = 0;
    pending_first_ = 0;
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
      TakePending(n, bytes, &taken_, &meta);
      if (PendingCount() > 0) {
        oldest_pending_ = absl::Now();
      } else if (running_since_.has_value()) {
        // Under the lock set_running_since takes: nothing that ends before
        // this is still to come (set_running_since).
        common::SetTimestamp(std::min(absl::Now(), *running_since_),
                             header.mutable_complete_before());
      }
    }
    StoreEncoded(std::move(header), taken_, meta);
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
    absl::Status st = spool_->Append(&batch);
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

}  // namespace sonde::prober
