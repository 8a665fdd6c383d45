// The result feed rows of one batch (docs/ha.md, "The result feed"): in the
// batch's transaction, one `result_feed` row per detection shard the batch
// touches, naming that shard's results of the batch -- their prober, region,
// seq range, started_at range, count and distinct check ids -- so the
// shard's owner (collector/cluster/result_feed.h) finds them in `results`
// through its (check_id, region, started_at) index. The row's xid is the
// batch transaction's (the column default), which is what makes the feed
// durable against transactions committing out of order.
//
// FeedRowParams builds the parameters of the one statement that records
// the batch (store.cc: the dedup row and the feed rows in one round trip).
// Pure; any thread.
#ifndef SONDE_COLLECTOR_STORAGE_FEED_ROWS_H_
#define SONDE_COLLECTOR_STORAGE_FEED_ROWS_H_

#include <string>
#include <vector>

#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// The SQL that inserts the feed rows: a data-modifying CTE named `feed` that
// writes only when the CTE `batch` (the dedup insert) returned a row. The
// statement's parameter $`prober` is the (sanitized) prober id, $`region`
// the region, and $`first` .. $`first`+7 the parameters of FeedRowParams.
std::string FeedRowsCte(int prober, int region, int first);

// The eight parameters FeedRowsCte reads, in order, seven arrays (one
// element per feed row: shards, first seqs, last seqs, first and last
// started_at, counts, check id arrays) and the batch's complete_before
// ("" when unset). Check ids are sanitized as the stored rows are (utf8.h).
// A batch without results gives empty arrays (no feed row).
std::vector<std::string> FeedRowParams(const v1::ResultBatch& batch);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_FEED_ROWS_H_
