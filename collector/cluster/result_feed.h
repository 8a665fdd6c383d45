// ResultFeed: the results a detection shard's owner must see, whichever
// replica stored them (docs/ha.md, "The result feed"). Ingest writes, in
// each batch's transaction, one `result_feed` row per shard the batch
// touches (collector/storage/feed_rows.h; migration 8), stamped with the
// transaction's id (xid8). This side reads those rows back, per set of
// owned shards, and the results they name from `results`.
//
// Position: a PostgreSQL snapshot (pg_snapshot, "xmin:xmax:xip,..."). A
// read runs in one REPEATABLE READ snapshot S' and returns the rows visible
// in S' and not in the position S (xid >= xmin(S) AND NOT
// pg_visible_in_snapshot(xid, S)); the position becomes S'. A committed
// transaction is invisible in every snapshot taken before its commit and
// visible in every one after, so each committed batch is returned by
// exactly one read, whatever order the batches commit in, and a
// long-running transaction holds back nothing but itself. (This is PgQ's
// tick rule, without its extension and daemon.) A rebuild (ReadSince) runs
// in one such snapshot too and returns it: following the feed from there
// returns exactly what the rebuild did not see.
//
// Results come back ResultBatch-shaped, as ingest hands them to detection
// (prober_id, region, results, complete_before), each result with the
// fields detection reads (identity, kind, seq, start, class, detail,
// timings, target, address, HTTP status, request index, certificate and
// fallback fields; result_feed.cc lists them), not the rest (TLS details,
// DNS answers, ICMP and gRPC fields stay in `results`). A batch holds the
// results of one feed row (one shard of one stored batch), at most
// `max_batch`.
//
// Bounds: rows are fetched through a cursor `chunk` at a time, and every
// batch is handed to the sink before the next chunk is fetched, so memory
// is one chunk whatever the backlog; each FETCH is bounded by the
// session's statement_timeout. A read that fails (or whose sink fails)
// leaves the position where it was: the next read returns those rows again
// (the Detector drops a result it already applied: same run, same request
// index).
//
// Shards join with positions of their own (each new owner's rebuild) and
// are read in one statement; after a read they all share its snapshot.
//
// Not thread-safe; one ResultFeed per replica, used by one thread, on a
// connection of its own that is not inside a transaction.
#ifndef SONDE_COLLECTOR_CLUSTER_RESULT_FEED_H_
#define SONDE_COLLECTOR_CLUSTER_RESULT_FEED_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/storage/pg/pg.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector::cluster {

// A place in the feed: a snapshot's text form.
struct FeedPosition {
  std::string snapshot;
};

// Takes every batch read; an error stops the read (the position stays).
using FeedSink = std::function<absl::Status(v1::ResultBatch&& batch)>;

struct FeedReadLimits {
  int chunk = 5000;      // rows fetched per round trip
  int max_batch = 1000;  // results per handed-out batch
};

struct FeedReadStats {
  int64_t feed_rows = 0;   // result_feed rows read (stored batches x shards)
  int64_t results = 0;     // results handed to the sink
  int64_t unreadable = 0;  // stored `extra` that is no ProbeResult: skipped
};

// The position "now": everything committed so far counts as seen.
absl::StatusOr<FeedPosition> CurrentFeedPosition(PGconn* c);

// A rebuild: the stored results of `checks` that started at or after
// `since`, handed to `sink` in batches; returns the position of the
// snapshot they were read in (follow the feed from there: nothing
// skipped, nothing twice). Uses the (check_id, region, started_at) index;
// the time it takes is one pass over those results.
absl::StatusOr<FeedPosition> ReadResultsSince(PGconn* c, const std::vector<std::string>& checks,
                                              absl::Time since, const FeedSink& sink,
                                              FeedReadStats* stats = nullptr,
                                              FeedReadLimits limits = {});

// The names of the checks of `config` whose service is in one of `shards`:
// what ReadResultsSince reads for a new owner of those shards.
std::vector<std::string> ChecksInShards(const v1::Config& config, const std::vector<int>& shards);

class ResultFeed {
 public:
  explicit ResultFeed(FeedReadLimits limits = {}) : limits_(limits) {}

  // Follows `shard` (0..kShardCount-1) from `from` (a new owner: its
  // rebuild's position), replacing any position the shard had.
  void Follow(int shard, const FeedPosition& from);
  // Stops following `shard` (its lease is lost or handed over).
  void Drop(int shard);
  std::vector<int> shards() const;
  // The position of `shard` ("" when not followed).
  std::string position(int shard) const;

  // Hands every result of the followed shards committed after each shard's
  // position, and not read before, to `sink`; then every followed shard is
  // at the snapshot of this read. On error the positions stay. One
  // statement whatever the number of shards; no shard: no statement.
  absl::StatusOr<FeedReadStats> Read(PGconn* c, const FeedSink& sink);

 private:
  const FeedReadLimits limits_;
  std::map<int, std::string> positions_;  // shard -> snapshot
};

}  // namespace sonde::collector::cluster

#endif  // SONDE_COLLECTOR_CLUSTER_RESULT_FEED_H_
