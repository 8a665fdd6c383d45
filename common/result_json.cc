#include "common/result_json.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "common/text/byte_scan.h"
#include "google/protobuf/util/json_util.h"

namespace sonde::common {

std::string ToJsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  opts.add_whitespace = false;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(message, &out, opts);
  if (!st.ok()) {
    return "{}";
  }
  return out;
}

namespace {

// Runs of plain characters are appended whole, stepping 8 bytes at a time
// over words with none to escape; only the few that need it are escaped.
// `backslash` starts each escape: one backslash for JSON, two for JSON
// inside a COPY text field.
void AppendEscapedJsonString(absl::string_view s, absl::string_view backslash, std::string* out) {
  out->push_back('"');
  size_t plain = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {
      const uint64_t w = text::LoadWord(s.data() + i);
      if (!text::HasByteBelow(w, 0x20) && !text::HasByte(w, '"') && !text::HasByte(w, '\\')) {
        i += 8;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    out->append(s.data() + plain, i - plain);
    plain = ++i;
    out->append(backslash.data(), backslash.size());
    // The characters JSON spells with a short escape, and their letters.
    static constexpr char kShort[] = "\"\\\b\f\n\r\t";
    static constexpr char kLetter[] = "\"\\bfnrt";
    if (const char* at = std::strchr(kShort, c); at != nullptr && c != 0) {
      if (c == '\\') {
        out->append(backslash.data(), backslash.size());
      } else {
        out->push_back(kLetter[at - kShort]);
      }
    } else {
      char buf[5] = {'u', '0', '0', 0, 0};
      buf[3] = "0123456789abcdef"[c >> 4];
      buf[4] = "0123456789abcdef"[c & 15];
      out->append(buf, sizeof buf);
    }
  }
  out->append(s.data() + plain, s.size() - plain);
  out->push_back('"');
}

}  // namespace

void AppendJsonString(absl::string_view s, std::string* out) {
  AppendEscapedJsonString(s, "\\", out);
}

void AppendJsonStringInCopyText(absl::string_view s, std::string* out) {
  AppendEscapedJsonString(s, "\\\\", out);
}

void AppendJsonFields(std::initializer_list<JsonStringField> fields, std::string* out) {
  const char* sep = "";
  for (const JsonStringField& f : fields) {
    out->append(sep);
    AppendJsonString(f.first, out);
    out->push_back(':');
    AppendJsonString(f.second, out);
    sep = ",";
  }
}

}  // namespace sonde::common
