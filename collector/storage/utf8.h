// UTF-8 cleaning of what probers send: PostgreSQL's COPY and jsonb refuse
// invalid UTF-8 and NUL bytes, and one bad string must not cost a whole
// batch. Checks read in place (the common, clean batch is stored without a
// copy); only a batch with a bad string pays for a sanitized copy. Pure
// functions; any thread.
#ifndef SONDE_COLLECTOR_STORAGE_UTF8_H_
#define SONDE_COLLECTOR_STORAGE_UTF8_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace sonde::collector {

// Returns `in` as valid UTF-8 without NUL bytes: each byte that does not start
// a well-formed sequence becomes U+FFFD, NUL bytes are dropped.
std::string SanitizeUtf8(absl::string_view in);

// True when `s` is valid UTF-8 without NUL bytes (SanitizeUtf8 would keep it).
bool IsCleanUtf8(absl::string_view s);

// True when every string field (recursively) is clean, i.e. SanitizeMessage
// would change nothing.
bool MessageIsClean(const google::protobuf::Message& m);

// Makes every string field (recursively) valid UTF-8 without NUL bytes, so
// that neither COPY nor jsonb can reject the row.
void SanitizeMessage(google::protobuf::Message* m);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_UTF8_H_
