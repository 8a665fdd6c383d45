// Spool: the prober's on-disk buffer of result batches that the collector
// has not acknowledged yet, so that nothing is lost while the collector or
// the link is down, or when the prober itself is killed.
//
// Layout: append-only segment files `seg-<20-digit number>.log` in one
// directory. Each record is [u32 length][u32 crc32][u8 type][payload];
// types are a batch (a serialized ResultBatch) and an ack watermark (every
// batch up to that batch_seq is acknowledged). A segment is deleted once all
// its batches are acked. Opening the spool replays the segments, cuts a torn
// record at a segment's end (a crash mid-write), reads on past a damaged
// record in the middle, and rebuilds the index of unacked batches. Nothing
// is dropped silently: past `max_bytes` the oldest segments are dropped, and
// a batch that cannot be read (at open, or when read back to be sent) is
// given up; each loss is counted and kept as a Gap for the next batch to
// carry (an unreadable record's range is its own batch_seq when its first
// bytes name one, else the room between its neighbours). Files are 0600; the
// directory is fsync'ed after a segment is created; data at most every
// `fsync_every` (MaybeSync) and when a segment is closed; sync errors are
// counted and logged.
//
// Not thread-safe: one owner (the Uplink, under its spool mutex).
#ifndef SONDE_PROBER_UPLINK_SPOOL_H_
#define SONDE_PROBER_UPLINK_SPOOL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prober/uplink/encoded_batch.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::prober {

// Writes all of `data` to `fd` (retrying short writes and EINTR); on error
// the errno text, prefixed by `what`. The stored config.pb goes through it;
// a spool record is written the same way, its header and batch in one
// writev.
absl::Status WriteAll(int fd, absl::string_view data, const std::string& what);

class Spool {
 public:
  struct Options {
    std::string dir;
    uint64_t max_bytes = 512ull << 20;
    uint64_t segment_bytes = 16ull << 20;
    absl::Duration fsync_every = absl::Milliseconds(500);
    // The newest batches not handed out by NextEncoded yet are also kept
    // in memory, up to this many bytes (the oldest give way first), so that
    // sending a batch just written does not read it back (no open, read
    // and checksum per batch). 0: every batch is read back from its file.
    uint64_t hold_bytes = 0;
  };
  struct Stats {
    uint64_t bytes = 0;  // on disk, all segments
    size_t segments = 0;
    size_t unacked_batches = 0;
    uint64_t unacked_results = 0;
    uint64_t appended_batches = 0;
    uint64_t dropped_batches = 0;  // lost to the size cap
    uint64_t dropped_results = 0;
    uint64_t torn_tails = 0;          // partial records at a segment's end, cut at open
    uint64_t unreadable_records = 0;  // records that could not be read (torn ones too)
    uint64_t write_errors = 0;
    uint64_t sync_errors = 0;                            // fdatasync or directory fsync failed
    absl::Time oldest_unacked = absl::InfiniteFuture();  // first result's start time
  };

  static absl::StatusOr<std::unique_ptr<Spool>> Open(Options options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appends a batch (batch_seq must increase). The encoded form is written
  // as it is (the Uplink's path: no second serialisation); once written, a
  // batch that fits the hold moves its bytes there (`batch->bytes` is left
  // empty), to be sent from memory without a copy. On a write error (full
  // disk) the batch is not spooled, stays as it was, and the error is
  // returned; the caller keeps it. A ResultBatch is encoded first.
  absl::Status Append(EncodedBatch* batch);
  absl::Status Append(const v1::ResultBatch& batch) {
    EncodedBatch e = EncodeBatch(batch);
    return Append(&e);
  }
  // Everything up to and including `batch_seq` is acknowledged.
  void Ack(uint64_t batch_seq);
  // The oldest unacked batch whose batch_seq is greater than `after`: its
  // bytes as written (from memory when held, else read back and checked by
  // their checksum; not parsed), or parsed. A held batch is handed out once:
  // asked for again (a resend), it is read back.
  std::optional<EncodedBatch> NextEncoded(uint64_t after);
  std::optional<v1::ResultBatch> Next(uint64_t after);
  // Losses not yet reported; the caller attaches them to its next batch.
  // They live in memory only until then: a caller that stops with
  // has_gaps() appends a batch (results may be empty) carrying TakeGaps().
  std::vector<v1::Gap> TakeGaps();
  bool has_gaps() const { return !gaps_.empty(); }

  void MaybeSync();
  // When MaybeSync will next sync (InfiniteFuture: nothing to sync).
  absl::Time NextSyncDue() const {
    return dirty_ ? last_sync_ + options_.fsync_every : absl::InfiniteFuture();
  }
  void Sync();

  // The largest batch_seq / result seq ever seen in the spool (0 if none).
  uint64_t max_batch_seq() const { return max_batch_seq_; }
  uint64_t max_result_seq() const { return max_result_seq_; }
  Stats stats() const;

 private:
  struct Entry {
    uint64_t batch_seq;
    uint64_t segment;  // segment number
    uint64_t offset;   // of the record
    uint32_t length;   // whole record
    uint32_t results;
    absl::Time first_start;
    uint64_t first_seq, last_seq;
    // Losses this batch reports (rare). Kept so that dropping the batch
    // hands them on to a later batch instead of losing the report too.
    std::vector<v1::Gap> gaps = {};
  };
  struct Segment {
    uint64_t number;
    uint64_t bytes;
  };
  // A record recovery could not read, and what its neighbours tell about it.
  struct Unreadable {
    bool ack = false;             // its header says: an ack watermark
    uint64_t named_seq = 0;       // the batch_seq its first bytes name (0: none)
    uint64_t seq_before = 0;      // the highest batch_seq or watermark before it
    uint64_t next_batch_seq = 0;  // the next good batch's (0: none)
    absl::Time prev_start = absl::InfiniteFuture();
    absl::Time next_start = absl::InfiniteFuture();
  };
  explicit Spool(Options options);
  absl::Status Recover();
  absl::Status OpenActive(uint64_t number);
  absl::Status WriteRecord(uint8_t type, absl::string_view payload);
  // The index entry of `batch`, stored as a record of `length` bytes at
  // `offset` in segment `segment`; raises the highest batch and result
  // sequence numbers seen.
  Entry IndexBatch(uint64_t batch_seq, const ResultsMeta& meta, std::vector<v1::Gap> gaps,
                   uint64_t segment, uint64_t offset, uint32_t length);
  // Gives up the unacked batch at `it` (it cannot be read back): its loss
  // and the gaps it carried go to the next batch. Returns the next entry.
  std::deque<Entry>::iterator GiveUp(std::deque<Entry>::iterator it, const std::string& why);
  // Reports the batches an unreadable record may have held as a gap (none
  // when it was an ack, or its neighbours leave no room for a batch).
  void ReportUnreadable(const Unreadable& u);
  // Adds `e`'s batch to `gap` (range, results, time).
  static void AddToGap(const Entry& e, v1::Gap* gap);
  void SyncDirectory();
  void DropOldestSegment();
  void DeleteAckedSegments();
  std::string SegmentPath(uint64_t number) const;

  Options options_;
  std::deque<Segment> segments_;  // oldest first; back() is active
  int active_fd_ = -1;
  bool dirty_ = false;
  absl::Time last_sync_ = absl::InfinitePast();
  std::deque<Entry> index_;  // unacked batches, in batch_seq order
  uint64_t acked_ = 0;       // ack watermark
  uint64_t max_batch_seq_ = 0;
  uint64_t max_result_seq_ = 0;
  std::vector<v1::Gap> gaps_;
  // Batches appended and not handed out yet (Options::hold_bytes), in
  // batch_seq order.
  struct Held {
    uint64_t batch_seq;
    std::string bytes;
  };
  std::deque<Held> held_;
  uint64_t held_bytes_ = 0;
  // Drops held batches up to and including `batch_seq`.
  void DropHeld(uint64_t batch_seq);
  Stats stats_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_UPLINK_SPOOL_H_
