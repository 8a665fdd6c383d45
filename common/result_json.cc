#include "common/result_json.h"

#include <cstring>
#include <string>

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

// Runs of plain characters are appended whole; only the few that need it
// are escaped.
void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  size_t plain = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out->append(s.data() + plain, i - plain);
    plain = i + 1;
    // The characters JSON spells with a short escape, and their letters.
    static constexpr char kShort[] = "\"\\\b\f\n\r\t";
    static constexpr char kLetter[] = "\"\\bfnrt";
    if (const char* at = std::strchr(kShort, c); at != nullptr && c != 0) {
      out->push_back('\\');
      out->push_back(kLetter[at - kShort]);
    } else {
      char buf[6] = {'\\', 'u', '0', '0', 0, 0};
      buf[4] = "0123456789abcdef"[c >> 4];
      buf[5] = "0123456789abcdef"[c & 15];
      out->append(buf, sizeof buf);
    }
  }
  out->append(s.data() + plain, s.size() - plain);
  out->push_back('"');
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
