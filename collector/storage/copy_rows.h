// The `results` rows of a batch in COPY text format, and the COPY itself:
// one row per result (prober_id and region from the batch, the stream's
// proven identity), the `extra` column as JSON, fields escaped for COPY.
// Results must already be sanitized (utf8.h) and normalised (the ingest
// path's NormalizeResult: `ok` agrees with the class). Pure functions, and
// CopyResults on the caller's connection inside its transaction.
#ifndef SONDE_COLLECTOR_STORAGE_COPY_ROWS_H_
#define SONDE_COLLECTOR_STORAGE_COPY_ROWS_H_

#include <libpq-fe.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

// Appends `value` as one field of COPY's text format: backslash, tab, newline
// and carriage return escaped. `value` must already be sanitized.
void AppendCopyField(absl::string_view value, std::string* out);

// The COPY statement results are streamed with, and one row of it (also the
// ingest benchmark's raw-COPY baseline).
const char* CopyResultsStatement();
void AppendCopyRow(const v1::ResultBatch& batch, const v1::ProbeResult& result, std::string* out);

// COPYs every result of `batch` in chunks of about 1 MiB; drains libpq's
// results so the connection is usable (or known dead) afterwards.
absl::Status CopyResults(PGconn* conn, const v1::ResultBatch& batch);

// The stored name of a failure class (its number when it has none).
std::string ClassName(v1::FailureClass::Code code);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_COPY_ROWS_H_
