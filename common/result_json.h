// JSON as Sonde prints it: the --once and API encoding of a ProbeResult
// (proto3 JSON, proto field names, every field printed, one line), and for
// hand-written JSON documents the string escaping plus the two pieces they
// share (string members, arrays). Pure functions; any thread.
#ifndef SONDE_COMMON_RESULT_JSON_H_
#define SONDE_COMMON_RESULT_JSON_H_

#include <cstddef>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace sonde::common {

// One line of JSON, no trailing newline. Works for any message.
std::string ToJsonLine(const google::protobuf::Message& message);

// Appends `s` as a JSON string literal (quotes, backslash and control
// characters escaped; other bytes as they are: pass valid UTF-8).
void AppendJsonString(absl::string_view s, std::string* out);
// The same literal as it stands inside a PostgreSQL COPY text field: every
// backslash doubled (escaped JSON has no tab, newline or carriage return
// that COPY would need to escape). What AppendJsonString then the COPY
// field escaping would give, in one pass.
void AppendJsonStringInCopyText(absl::string_view s, std::string* out);

// A string member of a hand-written JSON object: key, value.
using JsonStringField = std::pair<absl::string_view, absl::string_view>;

// Appends `"key":"value"` per field, comma-separated, without braces.
void AppendJsonFields(std::initializer_list<JsonStringField> fields, std::string* out);

// Appends `"key":[...]`, `append(item, out)` writing each item.
template <typename T, typename AppendItem>
void AppendJsonArray(absl::string_view key, const std::vector<T>& items, AppendItem append,
                     std::string* out) {
  AppendJsonString(key, out);
  out->append(":[");
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out->push_back(',');
    }
    append(items[i], out);
  }
  out->push_back(']');
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_RESULT_JSON_H_
