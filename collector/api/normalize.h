// A result is normalised once, at ingest, before anything reads it: the
// store (COPY rows, rollups) and the detector (the commit hook) get the same
// batch, so reports and incidents cannot disagree on it.
//
// NormalizeBatch runs on the stream's gRPC thread after the batch was
// validated (ValidateBatch) and its prober_id and region were proven to be
// the stream's (Authenticator::Matches, and the stream's first batch pins
// them). It stamps that identity on every result, and applies
// common::NormalizeResultClass: the class is the truth, `ok` is derived from
// it, UNSPECIFIED becomes PROBER_ERROR. Pure; any thread.
#ifndef SONDE_COLLECTOR_API_NORMALIZE_H_
#define SONDE_COLLECTOR_API_NORMALIZE_H_

#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// Normalises every result of `batch` in place; returns how many results had
// their class or `ok` changed (a prober that disagrees with the rule).
int NormalizeBatch(v1::ResultBatch* batch);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_NORMALIZE_H_
