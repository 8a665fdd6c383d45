// UTF-8 cleaning of the messages probers send: PostgreSQL's COPY and jsonb
// refuse invalid UTF-8 and NUL bytes, and one bad string must not cost a whole
// batch (the per-string functions live in common/text/safe_text.h). Checks read in place (the common, clean batch is stored without a
// copy); only a batch with a bad string pays for a sanitized copy. Pure
// functions; any thread.
#ifndef SONDE_COLLECTOR_STORAGE_UTF8_H_
#define SONDE_COLLECTOR_STORAGE_UTF8_H_

#include <string>

#include "common/text/safe_text.h"
#include "google/protobuf/message.h"
#include "sonde/v1/result.pb.h"

namespace sonde::collector {

using ::sonde::IsCleanUtf8;
using ::sonde::SanitizeUtf8;

// True when every string field (recursively) is clean, i.e. SanitizeMessage
// would change nothing.
bool MessageIsClean(const google::protobuf::Message& m);

// MessageIsClean for a ProbeResult, through its generated accessors (the
// reflection walk costs more than the check itself; ingest checks every
// result): the string fields of common/result_strings.h, cert_sans and the
// DNS answers (store_encoding_test.cc holds it to the proto).
bool ResultIsClean(const v1::ProbeResult& r);

// Makes every string field (recursively) valid UTF-8 without NUL bytes, so
// that neither COPY nor jsonb can reject the row.
void SanitizeMessage(google::protobuf::Message* m);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_UTF8_H_
