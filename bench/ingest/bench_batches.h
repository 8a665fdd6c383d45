// What sonde-bench-ingest sends: realistic HTTPS check results in
// ResultBatches (MakeBatch), and the same batches serialised before the
// clock starts (BatchTemplates), so the load client spends next to no CPU
// during a measured phase, as the raw-COPY baseline encodes its rows before
// its clock. A real prober encodes its batches on its own machine, once
// (prober/uplink/encoded_batch.h); the bench shares two cores with the
// collector and PostgreSQL, so encoding 500-result batches while the clock
// runs would be charged to the collector.
//
// A BatchTemplates is built once per stream and then owned by that stream's
// writer thread (not thread-safe). Next() copies a template's bytes and
// patches what must differ per batch: batch_seq (in a header written in
// front), each result's seq (kept unique and increasing per stream) and its
// start_time seconds (moved to the time of the write, so rows land in the
// partitions and rollup minutes they would with fresh results).
#ifndef SONDE_BENCH_INGEST_BENCH_BATCHES_H_
#define SONDE_BENCH_INGEST_BENCH_BATCHES_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::bench {

// A realistic HTTPS check result (sizes as sonde-prober makes them).
v1::ProbeResult MakeResult(const std::string& prober_id, const std::string& region, uint64_t seq,
                           int check, absl::Time end, std::mt19937_64* rng);

// `n` results with seqs from *next_seq on (advanced), checks seq % checks,
// ending at `end`.
v1::ResultBatch MakeBatch(const std::string& prober_id, const std::string& region,
                          uint64_t batch_seq, uint64_t* next_seq, int n, int checks, absl::Time end,
                          std::mt19937_64* rng);

class BatchTemplates {
 public:
  // Serialises the batches of `batch` results a stream of `checks` check ids
  // cycles through (checks / gcd(checks, batch) of them, at most 16), ending
  // at `end`. Seeded like the stream's MakeBatch calls would be.
  BatchTemplates(const std::string& prober_id, const std::string& region, int batch, int checks,
                 absl::Time end, uint64_t seed);

  // The serialised ResultBatch with `batch_seq`, its results stamped as
  // ending at about `end` (whole seconds moved), into *out (reused).
  void Next(uint64_t batch_seq, absl::Time end, std::string* out);

  int results_per_batch() const { return batch_; }

 private:
  struct Template {
    std::string results;               // repeated field 2 of ResultBatch, encoded
    std::vector<uint32_t> seq_at;      // offsets of each result's seq varint
    std::vector<uint32_t> seconds_at;  // offsets of its start_time.seconds varint
  };

  std::string prober_id_;
  std::string region_;
  int batch_;
  int64_t template_seconds_;  // `end` of the constructor, in unix seconds
  std::vector<Template> templates_;
  uint64_t sent_ = 0;  // batches returned by Next
};

}  // namespace sonde::bench

#endif  // SONDE_BENCH_INGEST_BENCH_BATCHES_H_
