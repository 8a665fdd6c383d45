// JSON as Sonde prints it: the --once and API encoding of a ProbeResult
// (proto3 JSON, proto field names, every field printed, one line) and the
// string escaping of hand-written JSON documents. Pure functions.
#ifndef SONDE_COMMON_RESULT_JSON_H_
#define SONDE_COMMON_RESULT_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace sonde::common {

// One line of JSON, no trailing newline. Works for any message.
std::string ToJsonLine(const google::protobuf::Message& message);

// Appends `s` as a JSON string literal (quotes, backslash and control
// characters escaped; other bytes as they are: pass valid UTF-8).
void AppendJsonString(absl::string_view s, std::string* out);

}  // namespace sonde::common

#endif  // SONDE_COMMON_RESULT_JSON_H_
