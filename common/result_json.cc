#include "common/result_json.h"

#include "google/protobuf/util/json_util.h"

namespace sonde::common {

std::string ToJsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  opts.add_whitespace = false;
  std::string out;
  auto st = google::protobuf::util::MessageToJsonString(message, &out, opts);
  if (!st.ok()) return "{}";
  return out;
}

}  // namespace sonde::common
