// EncodedBatch: a ResultBatch serialised once, with what the Spool and the
// Uplink need to know about it without parsing it again (batch_seq, result
// count, the first result's start, the result seqs, the gaps it reports).
//
// The prober serialises each result once, on the event loop thread, as the
// Uplink takes it (AppendEncodedResult); a batch is its header fields
// followed by those bytes (EncodeBatch), and the very same bytes go to the
// spool and onto the gRPC stream. Protobuf reads fields in any order, and
// the header (prober_id, region, batch_seq first) still leads, as the
// spool's recovery expects (spool.cc, BatchSeqFromPrefix). Plain functions;
// any thread.
#ifndef SONDE_PROBER_UPLINK_ENCODED_BATCH_H_
#define SONDE_PROBER_UPLINK_ENCODED_BATCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prober/probes/result_stamp.h"
#include "sonde/v1/collector.pb.h"
#include "sonde/v1/result.pb.h"

namespace sonde::prober {

// What a batch's results say about themselves.
struct ResultsMeta {
  uint32_t results = 0;
  absl::Time first_start = absl::InfiniteFuture();  // the first result's start time
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
};

struct EncodedBatch {
  std::string bytes;  // a serialized v1::ResultBatch
  uint64_t batch_seq = 0;
  ResultsMeta meta;
  std::vector<v1::Gap> gaps;  // the losses it reports (rare)
};

// The meta of `batch`'s results.
ResultsMeta MetaOf(const v1::ResultBatch& batch);

// Appends `result` to `out` as one element of ResultBatch.results (field tag,
// length, message); returns the bytes appended.
// Appends `result` with `stamp`'s fields as one ResultBatch.results
// element (tag, length, message) to `*out`; returns the bytes appended.
// The stamp's fields follow the message's own (field order does not matter
// to a parser; `result` leaves them empty). An empty stamp adds nothing.
size_t AppendEncodedResult(const v1::ProbeResult& result, const ResultStamp& stamp,
                           std::string* out);
inline size_t AppendEncodedResult(const v1::ProbeResult& result, std::string* out) {
  return AppendEncodedResult(result, ResultStamp(), out);
}

// `header` (every field but results) followed by `results`, bytes made by
// AppendEncodedResult and described by `meta`.
EncodedBatch EncodeBatch(const v1::ResultBatch& header, absl::string_view results,
                         const ResultsMeta& meta);
// A whole ResultBatch (results included) encoded the same way.
EncodedBatch EncodeBatch(const v1::ResultBatch& batch);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_UPLINK_ENCODED_BATCH_H_
