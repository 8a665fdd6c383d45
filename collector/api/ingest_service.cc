#include "collector/api/ingest_service.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "collector/api/normalize.h"
#include "common/grpc_status.h"
#include "grpcpp/support/method_handler.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

// A stream reuses its batch object; one that held a larger message is
// freed instead, so an idle stream keeps no huge buffers.
constexpr size_t kKeepBatchBytes = 1 << 20;

// Per-stream tallies for the close log line.
struct StreamTally {
  uint64_t batches = 0;
  uint64_t results = 0;
  uint64_t duplicates = 0;
};

// Decrements a gauge when the stream ends, whichever way.
class ActiveStream {
 public:
  explicit ActiveStream(std::atomic<uint64_t>* gauge) : gauge_(gauge) { gauge_->fetch_add(1); }
  ~ActiveStream() { gauge_->fetch_sub(1); }
  ActiveStream(const ActiveStream&) = delete;
  ActiveStream& operator=(const ActiveStream&) = delete;

 private:
  std::atomic<uint64_t>* gauge_;
};

}  // namespace

absl::Status ValidateBatch(const v1::ResultBatch& batch) {
  if (batch.prober_id().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch ", batch.batch_seq(), ": prober_id is empty"));
  }
  const std::string who =
      absl::StrCat("batch ", batch.batch_seq(), " from prober \"", batch.prober_id(), "\"");
  if (batch.region().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": region is empty"));
  }
  if (batch.prober_id().size() > kMaxIdBytes || batch.region().size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": prober_id and region may have at most ", kMaxIdBytes, " bytes"));
  }
  if (batch.batch_seq() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": batch_seq is above 2^63-1"));
  }
  if (batch.results_size() > kMaxResultsPerBatch) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": ", batch.results_size(),
                                                   " results, at most ", kMaxResultsPerBatch,
                                                   " are accepted per batch"));
  }
  for (int i = 0; i < batch.results_size(); ++i) {
    const std::string& check_id = batch.results(i).check_id();
    if (check_id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": results[", i, "] has no check_id"));
    }
    if (check_id.size() > kMaxIdBytes) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": results[", i, "].check_id has ",
                                                     check_id.size(), " bytes, at most ",
                                                     kMaxIdBytes, " are accepted"));
    }
  }
  return ValidateGaps(batch);
}

IngestService::IngestService(StorePool* pool, IngestLimits limits, const common::Clock* clock)
    : pool_(pool),
      limits_(limits),
      clock_(clock != nullptr ? clock : common::RealClock()),
      stream_cap_(std::max(limits.max_streams_per_prober, 1)) {
  // Method 0 is Ingest.Report, the service's only method. The handler is the
  // same synchronous bidi handler the generated code registers, with
  // ByteBuffer as the request type.
  MarkMethodStreamed(
      0, new grpc::internal::BidiStreamingHandler<IngestService, grpc::ByteBuffer, v1::Ack>(
             [](IngestService* service, grpc::ServerContext* context,
                grpc::ServerReaderWriter<v1::Ack, grpc::ByteBuffer>* stream) {
               return service->ServeReport(context, stream);
             },
             this));
}

grpc::Status IngestService::ServeReport(
    grpc::ServerContext* context, grpc::ServerReaderWriter<v1::Ack, grpc::ByteBuffer>* stream) {
  counters_.streams_opened.fetch_add(1);
  ActiveStream active(&counters_.streams_active);
  const std::string peer = context->peer();
  std::string prober_id, region;
  StreamTally tally;
  spdlog::info("ingest: stream opened from {}", peer);

  auto finish = [&](grpc::Status status) {
    std::string how = status.ok() ? "OK"
                      : status.error_code() == grpc::StatusCode::CANCELLED
                          ? "cancelled"
                          : absl::StrCat("error ", static_cast<int>(status.error_code()), ": ",
                                         status.error_message());
    spdlog::info(
        "ingest: stream closed: prober \"{}\" region \"{}\" from {}: "
        "{} batches stored ({} results), {} duplicates; {}",
        prober_id, region, peer, tally.batches, tally.results, tally.duplicates, how);
    return status;
  };

  ProberIdentity who{"", "", "none"};
  if (auth_ != nullptr) {
    absl::StatusOr<ProberIdentity> id = auth_->Prober(*context);
    if (!id.ok()) {
      counters_.streams_refused.fetch_add(1);
      spdlog::warn("ingest: refusing a stream from {}: {}", peer,
                   std::string(id.status().message()));
      return finish(common::ToGrpcStatus(grpc::StatusCode::UNAUTHENTICATED, id.status()));
    }
    who = *id;
  }
  // A stream holds one of its prober's slots while it runs: an authenticated
  // identity before anything is read, an open collector's claimed prober id
  // at the first batch.
  StreamCap::Slot slot;
  auto over_cap = [&](const std::string& identity) {
    counters_.streams_over_cap.fetch_add(1);
    const std::string why =
        absl::StrCat("prober \"", identity, "\" already has ", stream_cap_.max(),
                     " ingest streams open (--max-streams-per-prober); end the old ones first");
    spdlog::warn("ingest: refusing a stream from {}: {}", peer, why);
    return finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, why));
  };
  if (!who.prober_id.empty()) {
    slot = stream_cap_.Take(who.prober_id);
    if (!slot.held()) {
      return over_cap(who.prober_id);
    }
  }
  v1::ResultBatch batch;
  grpc::ByteBuffer message;
  for (uint64_t n = 1; stream->Read(&message); ++n) {
    if (draining_.load()) {
      return finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "collector shutting down; resend unacked batches elsewhere "
                                 "or later"));
    }
    const size_t bytes = message.Length();
    if (grpc::Status parsed =
            grpc::SerializationTraits<v1::ResultBatch>::Deserialize(&message, &batch);
        !parsed.ok()) {
      counters_.batches_invalid.fetch_add(1);
      const std::string why = absl::StrCat("message ", n, " on this stream is not a ResultBatch (",
                                           bytes, " bytes that do not parse as one)");
      spdlog::warn("ingest: refusing a message from {}: {}", peer, why);
      return finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why));
    }
    absl::Status valid = ValidateBatch(batch);
    if (!valid.ok()) {
      counters_.batches_invalid.fetch_add(1);
      spdlog::warn("ingest: rejecting a batch from {}: {}", peer, std::string(valid.message()));
      return finish(common::ToGrpcStatus(grpc::StatusCode::INVALID_ARGUMENT, valid));
    }
    if (absl::Status allowed = Authenticator::Matches(who, batch.prober_id(), batch.region());
        !allowed.ok()) {
      counters_.streams_refused.fetch_add(1);
      spdlog::warn("ingest: refusing batch {} from {}: {}", batch.batch_seq(), peer,
                   std::string(allowed.message()));
      return finish(common::ToGrpcStatus(grpc::StatusCode::PERMISSION_DENIED, allowed));
    }
    if (prober_id.empty()) {
      if (!slot.held()) {
        slot = stream_cap_.Take(batch.prober_id());
        if (!slot.held()) {
          return over_cap(batch.prober_id());
        }
      }
      prober_id = batch.prober_id();
      region = batch.region();
      spdlog::info("ingest: stream from {} is prober \"{}\" in region \"{}\"", peer, prober_id,
                   region);
    } else if (batch.prober_id() != prober_id || batch.region() != region) {
      counters_.batches_invalid.fetch_add(1);
      return finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("a stream carries one prober's batches: it began as prober \"", prober_id,
                       "\" region \"", region, "\", batch ", batch.batch_seq(), " says prober \"",
                       batch.prober_id(), "\" region \"", batch.region(), "\"")));
    }
    vitals_.Seen(batch, clock_->Now());
    // From here on every reader (store, rollups, detector) sees the one
    // normalised result.
    if (const int changed = NormalizeBatch(&batch); changed > 0) {
      counters_.results_normalized.fetch_add(changed);
    }
    if (const Refusals refused = RefuseResults(&batch, clock_->Now(), limits_.max_future_skew);
        refused.total() > 0) {
      counters_.results_refused_future.fetch_add(refused.future);
      counters_.results_refused_time_range.fetch_add(refused.time_range);
      spdlog::warn(
          "ingest: prober \"{}\": batch {}: refused {} results dated more than {} ahead and {} "
          "outside the Timestamp range; storing the other {}",
          prober_id, batch.batch_seq(), refused.future,
          absl::FormatDuration(limits_.max_future_skew), refused.time_range, batch.results_size());
    }
    if (const int cut = CapResultText(&batch); cut > 0) {
      counters_.results_truncated.fetch_add(cut);
    }
    // One pooled connection per batch, not per stream: the pool's cap holds
    // however many streams are open, and a stream waits for a connection.
    absl::StatusOr<bool> duplicate = Commit(context, prober_id, batch);
    if (!duplicate.ok()) {
      return finish(common::ToGrpcStatus(duplicate.status()));
    }
    if (*duplicate) {
      ++tally.duplicates;
      counters_.batches_duplicate.fetch_add(1);
    } else {
      ++tally.batches;
      tally.results += batch.results_size();
      counters_.batches_stored.fetch_add(1);
      counters_.results_stored.fetch_add(batch.results_size());
      if (on_committed_) {
        on_committed_(batch);
      }
    }
    spdlog::debug("ingest: prober \"{}\": batch {} ({} results) {}", prober_id, batch.batch_seq(),
                  batch.results_size(), *duplicate ? "was a duplicate" : "stored");
    v1::Ack ack;
    ack.set_batch_seq(batch.batch_seq());
    if (bytes > kKeepBatchBytes) {
      batch = v1::ResultBatch();  // a huge batch's buffers are not kept for the next
    }
    ack.set_duplicate(*duplicate);
    ack.set_spread(spread_);
    if (!stream->Write(ack)) {
      // The prober is gone. The batch is committed; a resend is acked as a
      // duplicate.
      break;
    }
  }
  return finish(context->IsCancelled() ? grpc::Status::CANCELLED : grpc::Status::OK);
}

absl::StatusOr<bool> IngestService::Commit(grpc::ServerContext* context,
                                           const std::string& prober_id,
                                           const v1::ResultBatch& batch) {
  std::optional<DatabaseWait::Hold> held;  // set while the database is away
  StorePool::Lease lease;
  StorePool::Lease* store = &lease;
  while (true) {
    absl::Status failed;
    if (*store == nullptr) {
      absl::StatusOr<StorePool::Lease> lease = pool_->Acquire();
      if (lease.ok()) {
        *store = std::move(*lease);
      } else {
        failed = lease.status();
      }
    }
    if (*store != nullptr) {
      absl::StatusOr<bool> duplicate = (*store)->InsertBatch(batch);
      if (duplicate.ok()) {
        if (held) {
          held->Committed();
        }
        return duplicate;
      }
      failed = duplicate.status();
      if (absl::IsUnavailable(failed)) {
        store->reset();  // a lost connection is dead; the next try takes a new one
      }
    }
    if (absl::IsInvalidArgument(failed)) {
      // PostgreSQL refused the data itself: it would fail again, so resending
      // it forever helps no one.
      counters_.batches_invalid.fetch_add(1);
      spdlog::warn("ingest: prober \"{}\": PostgreSQL refused batch {}: {}", prober_id,
                   batch.batch_seq(), std::string(failed.message()));
      return failed;
    }
    counters_.store_errors.fetch_add(1);
    if (!absl::IsUnavailable(failed)) {
      spdlog::error("ingest: prober \"{}\": storing batch {} failed: {}", prober_id,
                    batch.batch_seq(), std::string(failed.message()));
      return absl::UnavailableError(absl::StrCat(
          "batch ", batch.batch_seq(), " was not stored (resend it): ", failed.message()));
    }
    // The database is away: hold the stream (unread) and try again, so the
    // prober neither backs off nor resends what it already sent.
    if (!held) {
      held.emplace(&database_wait_, failed.message());
    }
    if (!held->Pause() || draining_.load()) {
      return absl::UnavailableError(
          "collector shutting down while waiting for its database; resend unacked batches");
    }
    if (context->IsCancelled()) {
      return absl::CancelledError("the prober went away while its batch waited for the database");
    }
  }
}

}  // namespace sonde::collector
