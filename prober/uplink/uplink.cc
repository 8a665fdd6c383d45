#include "prober/uplink/uplink.h"

#include <random>

#include "common/logging.h"

namespace sonde::prober {

Uplink::Uplink(std::shared_ptr<grpc::Channel> channel, Options options)
    : channel_(std::move(channel)),
      stub_(v1::Ingest::NewStub(channel_)),
      options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Uplink>> Uplink::Create(std::shared_ptr<grpc::Channel> channel,
                                                       Options options) {
  std::unique_ptr<Uplink> u(new Uplink(std::move(channel), std::move(options)));
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

Uplink::~Uplink() { Stop(absl::ZeroDuration()); }

void Uplink::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Uplink::Add(v1::ProbeResult result) {
  absl::MutexLock l(&pending_mu_);
  result.set_seq(next_seq_++);
  if (pending_.empty()) {
    oldest_pending_ = absl::Now();
  }
  pending_.push_back(std::move(result));
  added_++;
  if (pending_.size() > options_.max_buffered) {
    pending_.pop_front();
    dropped_pending_++;
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
    wake_ = true;
  }
  if (thread_.joinable()) {
    thread_.join();
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
  } else if (!memory_.empty() && memory_.front().results_size() > 0) {
    const auto& t = memory_.front().results(0).start_time();
    s.oldest_unacked = absl::FromUnixSeconds(t.seconds());
  }
  return s;
}

size_t Uplink::backlog() const {
  absl::MutexLock l(&mu_);
  size_t n;
  {
    absl::MutexLock p(&pending_mu_);
    n = pending_.size();
  }
  return n + (spool_ ? spool_->stats().unacked_results : memory_results_);
}

bool Uplink::GapsPending() const { return spool_ ? spool_->has_gaps() : !memory_gaps_.empty(); }

void Uplink::FormBatches(bool force) {
  while (true) {
    v1::ResultBatch batch;
    {
      absl::MutexLock p(&pending_mu_);
      if (pending_.empty()) {
        break;
      }
      bool due = force || pending_.size() >= options_.max_batch ||
                 absl::Now() - oldest_pending_ >= options_.max_batch_delay;
      if (!due) {
        return;
      }
      size_t n = std::min(pending_.size(), options_.max_batch);
      batch.mutable_results()->Reserve(static_cast<int>(n));
      for (size_t i = 0; i < n; ++i) {
        *batch.add_results() = std::move(pending_.front());
        pending_.pop_front();
      }
      if (!pending_.empty()) {
        oldest_pending_ = absl::Now();
      }
    }
    StoreBatch(std::move(batch));
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
  batch.set_prober_id(options_.prober_id);
  batch.set_region(options_.region);
  batch.set_batch_seq(next_batch_seq_++);
  if (spool_) {
    for (v1::Gap& g : spool_->TakeGaps()) {
      *batch.add_gaps() = std::move(g);
    }
    absl::Status st = spool_->Append(batch);
    if (!st.ok()) {
      // A full or failing disk must not stop probing or delivery: keep the
      // batch in memory (bounded) and say so.
      spdlog::error("spool: {}; keeping batch {} in memory", st.message(), batch.batch_seq());
      stats_.spool_write_errors++;
      memory_results_ += batch.results_size();
      memory_.push_back(std::move(batch));
    }
  } else {
    for (v1::Gap& g : memory_gaps_) {
      *batch.add_gaps() = std::move(g);
    }
    memory_gaps_.clear();
    memory_results_ += batch.results_size();
    memory_.push_back(std::move(batch));
  }
  stats_.spooled_batches++;
  // The memory store is bounded: drop the oldest batches, remember the gap.
  while (memory_results_ > options_.max_buffered && !memory_.empty()) {
    const v1::ResultBatch& old = memory_.front();
    v1::Gap gap;
    gap.set_results(old.results_size());
    gap.set_first_batch_seq(old.batch_seq());
    gap.set_last_batch_seq(old.batch_seq());
    memory_gaps_.push_back(gap);
    for (const v1::Gap& carried : old.gaps()) {
      memory_gaps_.push_back(carried);
    }
    stats_.dropped += old.results_size();
    memory_results_ -= old.results_size();
    memory_.pop_front();
  }
}

std::optional<v1::ResultBatch> Uplink::NextToSend() {
  // Memory-held batches (no spool, or spool write errors) interleave by seq.
  std::optional<v1::ResultBatch> from_spool;
  if (spool_) {
    from_spool = spool_->Next(last_sent_);
  }
  for (const v1::ResultBatch& b : memory_) {
    if (b.batch_seq() > last_sent_ && (!from_spool || b.batch_seq() < from_spool->batch_seq())) {
      return b;
    }
  }
  return from_spool;
}

void Uplink::AckUpTo(uint64_t batch_seq, bool duplicate) {
  if (batch_seq <= last_acked_) {
    return;
  }
  last_acked_ = batch_seq;
  if (in_flight_ > 0) {
    in_flight_--;
  }
  stats_.acked_batches++;
  if (duplicate) {
    stats_.duplicates++;
  }
  if (spool_) {
    uint64_t before = spool_->stats().unacked_results;
    spool_->Ack(batch_seq);
    stats_.acked_results += before - spool_->stats().unacked_results;
  }
  while (!memory_.empty() && memory_.front().batch_seq() <= batch_seq) {
    stats_.acked_results += memory_.front().results_size();
    memory_results_ -= memory_.front().results_size();
    memory_.pop_front();
  }
}

bool Uplink::Drained() const {
  absl::MutexLock p(&pending_mu_);
  return pending_.empty() && memory_.empty() && !GapsPending() &&
         (!spool_ || spool_->stats().unacked_batches == 0);
}

void Uplink::AwaitWake(absl::Duration timeout) {
  mu_.AwaitWithTimeout(absl::Condition(&wake_), timeout);
  wake_ = false;
}

bool Uplink::StopDue() const { return stopping_ && (absl::Now() >= stop_deadline_ || Drained()); }

void Uplink::Run() {
  absl::Duration backoff = options_.backoff_initial;
  std::mt19937_64 rng(std::random_device{}());
  while (true) {
    bool progressed = StreamOnce();
    absl::MutexLock l(&mu_);
    if (StopDue()) {
      break;
    }
    if (progressed) {
      backoff = options_.backoff_initial;
    }
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    absl::Duration wait = backoff * jitter(rng);
    stats_.reconnects++;
    spdlog::warn("collector stream down; retrying in {}",
                 absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(1))));
    // Keep batching and spooling while disconnected. The backoff spares a
    // collector that answers but fails (its database is down); one that was
    // unreachable is used as soon as the channel connects to it again, so
    // a long outage is not followed by minutes of backoff.
    absl::Time until = absl::Now() + wait;
    bool channel_was_down = false;
    while (absl::Now() < until && !StopDue()) {
      FormBatches(false);
      if (spool_) {
        spool_->MaybeSync();
      }
      AwaitWake(absl::Milliseconds(100));
      // try_to_connect: an IDLE channel starts connecting (gRPC paces the
      // attempts with its own backoff).
      if (channel_->GetState(/*try_to_connect=*/true) != GRPC_CHANNEL_READY) {
        channel_was_down = true;
      } else if (channel_was_down) {
        spdlog::info("collector reachable again; resending now");
        break;
      }
    }
    if (StopDue()) {
      break;
    }
    backoff = std::min(backoff * 1.6, options_.backoff_max);
  }
}

bool Uplink::StreamOnce() {
  grpc::ClientContext ctx;
  if (!options_.bearer_token.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + options_.bearer_token);
  }
  {
    absl::MutexLock l(&mu_);
    if (StopDue()) {
      return false;
    }
    last_sent_ = last_acked_;  // resend everything unacked, in order
    in_flight_ = 0;
  }
  std::unique_ptr<grpc::ClientReaderWriter<v1::ResultBatch, v1::Ack>> stream = stub_->Report(&ctx);
  std::atomic<bool> got_ack{false};
  std::atomic<bool> reader_done{false};

  std::thread reader([&] {
    v1::Ack ack;
    while (stream->Read(&ack)) {
      absl::MutexLock l(&mu_);
      AckUpTo(ack.batch_seq(), ack.duplicate());
      got_ack = true;
      stats_.connected = true;
      wake_ = true;  // room for another batch; or, stopping, maybe drained
    }
    absl::MutexLock l(&mu_);
    reader_done = true;
    wake_ = true;
  });

  bool ok = true;
  while (ok) {
    std::optional<v1::ResultBatch> to_send;
    {
      absl::MutexLock l(&mu_);
      while (true) {
        if (reader_done || StopDue()) {
          break;
        }
        FormBatches(stopping_);
        if (spool_) {
          spool_->MaybeSync();
        }
        if (in_flight_ < options_.max_unacked_batches) {
          to_send = NextToSend();
          if (to_send) {
            break;
          }
        }
        AwaitWake(absl::Milliseconds(50));
      }
      if (!to_send) {
        break;
      }
      last_sent_ = to_send->batch_seq();
      in_flight_++;
      stats_.sent_batches++;
    }
    ok = stream->Write(*to_send);
  }
  stream->WritesDone();
  ctx.TryCancel();
  reader.join();
  grpc::Status st = stream->Finish();
  absl::MutexLock l(&mu_);
  stats_.connected = false;
  if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    // The collector refused the oldest unacked batch as malformed. Resending
    // it would block every later result forever: drop it, loudly.
    std::optional<v1::ResultBatch> bad;
    uint64_t saved = last_sent_;
    last_sent_ = last_acked_;
    bad = NextToSend();
    last_sent_ = saved;
    if (bad) {
      spdlog::error("collector refused batch {} ({} results) as invalid: {}; dropping it",
                    bad->batch_seq(), bad->results_size(), st.error_message());
      stats_.dropped += bad->results_size();
      AckUpTo(bad->batch_seq(), false);
    }
  } else if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
    spdlog::warn("collector stream ended: {} ({})", st.error_message(),
                 static_cast<int>(st.error_code()));
  }
  return got_ack;
}

}  // namespace sonde::prober
