#include "prober/uplink.h"

#include <random>

#include "common/logging.h"

namespace sonde::prober {

Uplink::Uplink(std::shared_ptr<grpc::Channel> channel, Options options)
    : channel_(std::move(channel)),
      stub_(v1::Ingest::NewStub(channel_)),
      options_(std::move(options)) {
  // Sequences continue across restarts because they start at the clock
  // (microseconds); within a run they are contiguous.
  uint64_t base = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  absl::MutexLock l(&mu_);
  next_seq_ = base;
  next_batch_seq_ = base;
}

Uplink::~Uplink() { Stop(absl::ZeroDuration()); }

void Uplink::Start() { thread_ = std::thread([this] { Run(); }); }

void Uplink::Add(v1::ProbeResult result) {
  absl::MutexLock l(&mu_);
  result.set_seq(next_seq_++);
  if (pending_.empty()) oldest_pending_ = absl::Now();
  pending_.push_back(std::move(result));
  stats_.added++;
  if (pending_.size() > options_.max_buffered) {
    pending_.pop_front();
    stats_.dropped++;
  }
}

void Uplink::Stop(absl::Duration grace) {
  {
    absl::MutexLock l(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    stop_deadline_ = absl::Now() + grace;
  }
  if (thread_.joinable()) thread_.join();
}

Uplink::Stats Uplink::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

size_t Uplink::backlog() const {
  absl::MutexLock l(&mu_);
  size_t n = pending_.size();
  for (const auto& b : unacked_) n += b.results_size();
  return n;
}

bool Uplink::NextBatch(v1::ResultBatch* batch) {
  if (pending_.empty()) return false;
  batch->set_prober_id(options_.prober_id);
  batch->set_region(options_.region);
  batch->set_batch_seq(next_batch_seq_++);
  size_t n = std::min(pending_.size(), options_.max_batch);
  for (size_t i = 0; i < n; ++i) {
    *batch->add_results() = std::move(pending_.front());
    pending_.pop_front();
  }
  if (!pending_.empty()) oldest_pending_ = absl::Now();
  return true;
}

void Uplink::Run() {
  absl::Duration backoff = options_.backoff_initial;
  std::mt19937_64 rng(std::random_device{}());
  while (true) {
    bool progressed = StreamOnce();
    absl::MutexLock l(&mu_);
    bool drained = pending_.empty() && unacked_.empty();
    if (stopping_ && (drained || absl::Now() >= stop_deadline_)) break;
    if (progressed) backoff = options_.backoff_initial;
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    absl::Duration wait = backoff * jitter(rng);
    stats_.reconnects++;
    spdlog::warn("collector stream down; retrying in {} ({} results waiting)",
                 absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(1))),
                 pending_.size());
    absl::Time until = std::min(absl::Now() + wait, stop_deadline_);
    mu_.AwaitWithDeadline(absl::Condition(+[](bool* s) { return *s; }, &stopping_), until);
    if (stopping_ && absl::Now() >= stop_deadline_) break;
    backoff = std::min(backoff * 1.6, options_.backoff_max);
  }
}

bool Uplink::StreamOnce() {
  grpc::ClientContext ctx;
  {
    absl::MutexLock l(&mu_);
    if (stopping_ && absl::Now() >= stop_deadline_) return false;
    active_ctx_ = &ctx;
    unacked_sent_ = 0;
  }
  std::unique_ptr<grpc::ClientReaderWriter<v1::ResultBatch, v1::Ack>> stream =
      stub_->Report(&ctx);
  std::atomic<bool> got_ack{false};
  std::atomic<bool> reader_done{false};

  // Acks arrive in order; each releases the oldest unacked batch.
  std::thread reader([&] {
    v1::Ack ack;
    while (stream->Read(&ack)) {
      absl::MutexLock l(&mu_);
      while (!unacked_.empty() && unacked_.front().batch_seq() <= ack.batch_seq()) {
        if (unacked_.front().batch_seq() == ack.batch_seq()) {
          stats_.acked_batches++;
          stats_.acked_results += unacked_.front().results_size();
          if (ack.duplicate()) stats_.duplicates++;
        }
        unacked_.pop_front();
        if (unacked_sent_ > 0) unacked_sent_--;
      }
      got_ack = true;
      stats_.connected = true;
    }
    reader_done = true;
  });

  bool ok = true;
  while (ok) {
    v1::ResultBatch to_send;
    {
      absl::MutexLock l(&mu_);
      auto ready = [&] {
        mu_.AssertHeld();
        if (reader_done) return true;
        if (stopping_ && (absl::Now() >= stop_deadline_ ||
                          (pending_.empty() && unacked_.empty()))) {
          return true;
        }
        if (unacked_sent_ < unacked_.size()) return true;  // resend after reconnect
        if (unacked_.size() >= options_.max_unacked_batches) return false;
        if (pending_.size() >= options_.max_batch) return true;
        return !pending_.empty() &&
               (stopping_ || absl::Now() - oldest_pending_ >= options_.max_batch_delay);
      };
      while (!ready()) {
        mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100));
      }
      if (reader_done || (stopping_ && (absl::Now() >= stop_deadline_ ||
                                        (pending_.empty() && unacked_.empty())))) {
        break;
      }
      if (unacked_sent_ < unacked_.size()) {
        to_send = unacked_[unacked_sent_];
      } else {
        NextBatch(&to_send);
        unacked_.push_back(to_send);
      }
      unacked_sent_++;
      stats_.sent_batches++;
    }
    ok = stream->Write(to_send);
  }
  stream->WritesDone();
  ctx.TryCancel();
  reader.join();
  grpc::Status st = stream->Finish();
  {
    absl::MutexLock l(&mu_);
    active_ctx_ = nullptr;
    stats_.connected = false;
  }
  if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    // The collector refused the oldest unacked batch as malformed. Resending
    // it would block every later result forever: drop it, loudly.
    absl::MutexLock l(&mu_);
    if (!unacked_.empty()) {
      spdlog::error("collector refused batch {} ({} results) as invalid: {}; dropping it",
                    unacked_.front().batch_seq(), unacked_.front().results_size(),
                    st.error_message());
      stats_.dropped += unacked_.front().results_size();
      unacked_.pop_front();
    }
  } else if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
    spdlog::warn("collector stream ended: {} ({})", st.error_message(),
                 static_cast<int>(st.error_code()));
  }
  return got_ack;
}

}  // namespace sonde::prober
