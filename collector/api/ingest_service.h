// IngestService: the collector's end of `Ingest.Report`, the stream that
// carries ResultBatches from a prober and Acks back.
//
// Synchronous gRPC API: each stream runs on one gRPC handler thread and
// borrows a Store from the StorePool for each batch (the pool is borrowed
// and must outlive the service; its cap bounds PostgreSQL connections
// however many streams are open). The loop is read -> parse -> validate ->
// normalise (normalize.h) -> InsertBatch -> commit hook -> ack, so a batch
// is acked only after its transaction committed and a slow PostgreSQL slows
// the reading (backpressure to the prober's spool). Report is served with
// raw messages (grpc::ByteBuffer) and parsed here: with the generated typed
// handler, bytes that are not a ResultBatch look like the end of the stream
// and the client would get OK. A message that does not parse, or an
// invalid batch, ends the stream with INVALID_ARGUMENT, and so does data
// PostgreSQL itself refuses (it would fail again). While the database is
// away (a lost or refused connection) the stream is not ended: it keeps its
// batch, stops reading (flow control holds the prober to its spool) and
// retries the database (database_wait.h) until the batch commits; other
// store errors end it with UNAVAILABLE and the prober resends everything
// unacked (the dedup key makes that safe). Results dated too far ahead or
// outside the Timestamp range are dropped from their batch and counted,
// oversized text is cut, and a prober identity holding
// max_streams_per_prober streams gets RESOURCE_EXHAUSTED for another
// (ingest_limits.h). Messages over the server's receive limit are refused by
// gRPC itself (RESOURCE_EXHAUSTED) before they reach the handler.
// StartDraining() (shutdown) ends streams after their current batch, and
// streams waiting for the database at once. Counters are atomics, readable
// from any thread.
#ifndef SONDE_COLLECTOR_API_INGEST_SERVICE_H_
#define SONDE_COLLECTOR_API_INGEST_SERVICE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "collector/api/database_wait.h"
#include "collector/api/ingest_limits.h"
#include "collector/api/prober_vitals.h"
#include "collector/auth/auth.h"
#include "collector/storage/store.h"
#include "collector/storage/store_pool.h"
#include "common/clock.h"
#include "grpcpp/support/byte_buffer.h"
#include "sonde/v1/collector.grpc.pb.h"

namespace sonde::collector {

// Most results one batch may carry (probers send <= 500).
inline constexpr int kMaxResultsPerBatch = 5000;
// Longest prober_id, region or check_id accepted: they are index keys, and
// PostgreSQL refuses index entries above ~2.7 kB.
inline constexpr size_t kMaxIdBytes = 256;

// Checks what the store relies on: prober_id and region set, at most
// kMaxResultsPerBatch results, each with a check_id, ids at most kMaxIdBytes,
// batch_seq < 2^63, gaps as ValidateGaps (ingest_limits.h).
// INVALID_ARGUMENT with a message naming the first problem; a prober must
// not resend such a batch (it would fail again).
absl::Status ValidateBatch(const v1::ResultBatch& batch);

struct IngestCounters {
  std::atomic<uint64_t> streams_opened{0};
  std::atomic<uint64_t> streams_refused{0};  // bad or missing credentials
  std::atomic<uint64_t> streams_active{0};
  std::atomic<uint64_t> batches_stored{0};
  std::atomic<uint64_t> results_stored{0};
  std::atomic<uint64_t> batches_duplicate{0};
  std::atomic<uint64_t> batches_invalid{0};
  // Results whose class or `ok` ingest corrected (NormalizeBatch).
  std::atomic<uint64_t> results_normalized{0};
  std::atomic<uint64_t> store_errors{0};
  // Streams refused because their prober already held max_streams_per_prober.
  std::atomic<uint64_t> streams_over_cap{0};
  // Results dropped from their batch (RefuseResults), per reason.
  std::atomic<uint64_t> results_refused_future{0};
  std::atomic<uint64_t> results_refused_time_range{0};
  // Results whose text ingest cut to its caps (CapResultText).
  std::atomic<uint64_t> results_truncated{0};
  // Streams held unread now because the database cannot commit (gauge).
  std::atomic<uint64_t> streams_waiting_for_database{0};
};

class IngestService final : public v1::Ingest::Service {
 public:
  // Registers Report's raw-message handler in place of the generated one.
  // `clock` (borrowed; null: the real one) dates the future-skew check.
  explicit IngestService(StorePool* pool, IngestLimits limits = {},
                         const common::Clock* clock = nullptr);
  // Streams must then prove their prober identity (null: open). Set before
  // the server starts; not owned.
  void set_authenticator(const Authenticator* auth) { auth_ = auth; }

  // Called on the stream's thread with every batch newly committed (not for
  // duplicates), before its ack: the normalised batch the store wrote, with
  // the stream's proven identity on every result. Set before the server
  // starts.
  using CommitHook = std::function<void(const v1::ResultBatch&)>;
  void set_on_committed(CommitHook hook) { on_committed_ = std::move(hook); }
  // Cluster mode (--cluster): every ack says Ack.spread, so probers spread
  // their streams over the replicas (docs/ha.md). Set before the server
  // starts.
  void set_spread(bool spread) { spread_ = spread; }

  // Ingest.Report, as registered by the constructor: reads raw messages and
  // parses each into a ResultBatch itself. Runs on a gRPC handler thread.
  grpc::Status ServeReport(grpc::ServerContext* context,
                           grpc::ServerReaderWriter<v1::Ack, grpc::ByteBuffer>* stream);

  // For shutdown: a batch being stored still commits and is acked, but every
  // stream then ends with UNAVAILABLE instead of reading the next one. Any
  // thread; idempotent.
  void StartDraining() {
    draining_.store(true);
    database_wait_.Stop();
  }

  const IngestCounters& counters() const { return counters_; }
  // The latest ProberStatus and last-seen time per prober (Query.Probers).
  const ProberVitals& vitals() const { return vitals_; }

 private:
  // Stores `batch` on a connection leased from the pool for this batch,
  // waiting out a database that is away: returns whether it was a duplicate,
  // or the error that ends the stream (INVALID_ARGUMENT for data PostgreSQL
  // refuses, UNAVAILABLE for another store error or a stop).
  absl::StatusOr<bool> Commit(grpc::ServerContext* context, const std::string& prober_id,
                              const v1::ResultBatch& batch);

  const Authenticator* auth_ = nullptr;
  ProberVitals vitals_;
  CommitHook on_committed_;
  bool spread_ = false;
  StorePool* const pool_;
  const IngestLimits limits_;
  const common::Clock* const clock_;
  StreamCap stream_cap_;
  std::atomic<bool> draining_{false};
  IngestCounters counters_;
  DatabaseWait database_wait_{&counters_.streams_waiting_for_database};
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_INGEST_SERVICE_H_
