#include "collector/storage/extra_json.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "collector/storage/civil_time.h"
#include "common/result_json.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace sonde::collector {
namespace {

using common::AppendJsonString;
namespace pb = google::protobuf;

//// MessageToJsonString builds a type description and an object-writer
// pipeline per call; ingest prints one JSON per result, and that was most of
// the collector's CPU. This printer walks the message by reflection and
// writes what MessageToJsonString writes with preserve_proto_field_names
// (set fields only; 64-bit integers as strings; enums by name; bytes in
// base64; google.protobuf.Timestamp in RFC 3339). Message types with maps
// or other well-known types take the general printer; so does a message
// with a floating-point field set (protobuf's shortest round-trip digits
// are its own; ProbeResult has one, icmp_loss, set only when an ICMP check
// lost packets). Tests compare both printers (store_encoding_test.cc).

bool FastJsonSupports(const pb::Descriptor* d, int depth) {
  if (d->full_name() == "google.protobuf.Timestamp") {
    return true;
  }
  if (depth > 8 || absl::StartsWith(d->file()->name(), "google/protobuf/")) {
    return false;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->is_map()) {
      return false;
    }
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
        !FastJsonSupports(f->message_type(), depth + 1)) {
      return false;
    }
  }
  return true;
}

// RFC 3339 with 0, 3, 6 or 9 fractional digits, as protobuf prints it.
bool AppendTimestampJson(const pb::Message& m, std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  const pb::Descriptor* d = m.GetDescriptor();
  const int64_t seconds = r->GetInt64(m, d->FindFieldByNumber(1));
  const int32_t nanos = r->GetInt32(m, d->FindFieldByNumber(2));
  if (seconds < kMinPgSeconds || seconds > kMaxPgSeconds || nanos < 0 || nanos > 999999999) {
    return false;
  }
  out->push_back('"');
  AppendCivil(seconds, 'T', out);
  if (nanos != 0) {
    const int digits = nanos % 1000000 == 0 ? 3 : nanos % 1000 == 0 ? 6 : 9;
    char buf[10] = {'.'};
    PutDigits(digits == 3 ? nanos / 1000000 : digits == 6 ? nanos / 1000 : nanos, digits, buf + 1);
    out->append(buf, 1 + digits);
  }
  out->append("Z\"");
  return true;
}

bool AppendMessageJson(const pb::Message& m, std::string* out);

// One value of field `f` (element `i` when repeated).
bool AppendFieldValueJson(const pb::Message& m, const pb::FieldDescriptor* f, int i,
                          std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(out, rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f));
      return true;
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(out, rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f));
      return true;
    case pb::FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(out, "\"", rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f), "\"");
      return true;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(out, "\"", rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f), "\"");
      return true;
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      out->append((rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f)) ? "true" : "false");
      return true;
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const int number = rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
      const pb::EnumValueDescriptor* v = f->enum_type()->FindValueByNumber(number);
      if (v != nullptr) {
        AppendJsonString(v->name(), out);
      } else {
        absl::StrAppend(out, number);
      }
      return true;
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& v = rep ? r->GetRepeatedStringReference(m, f, i, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      if (f->type() == pb::FieldDescriptor::TYPE_BYTES) {
        AppendJsonString(absl::Base64Escape(v), out);
      } else {
        AppendJsonString(v, out);
      }
      return true;
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      const pb::Message& sub = rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f);
      if (sub.GetDescriptor()->full_name() == "google.protobuf.Timestamp") {
        return AppendTimestampJson(sub, out);
      }
      return AppendMessageJson(sub, out);
    }
    default:  // float and double: the general printer's digits
      return false;
  }
}

bool AppendMessageJson(const pb::Message& m, std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  out->push_back('{');
  bool first = true;
  for (const pb::FieldDescriptor* f : fields) {
    if (!first) {
      out->push_back(',');
    }
    first = false;
    AppendJsonString(f->name(), out);
    out->push_back(':');
    if (!f->is_repeated()) {
      if (!AppendFieldValueJson(m, f, -1, out)) {
        return false;
      }
      continue;
    }
    out->push_back('[');
    for (int i = 0; i < r->FieldSize(m, f); ++i) {
      if (i > 0) {
        out->push_back(',');
      }
      if (!AppendFieldValueJson(m, f, i, out)) {
        return false;
      }
    }
    out->push_back(']');
  }
  out->push_back('}');
  return true;
}

}  // namespace

bool DirectJsonCovers(const pb::Descriptor* d) { return FastJsonSupports(d, 0); }

std::string ResultJson(const v1::ProbeResult& result) {
  static const bool kFast = FastJsonSupports(v1::ProbeResult::descriptor(), 0);
  std::string json;
  if (kFast) {
    json.reserve(512);
    if (AppendMessageJson(result, &json)) {
      return json;
    }
    json.clear();
  }
  pb::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  if (!pb::util::MessageToJsonString(result, &json, opts).ok()) {
    json = "{}";
  }
  return json;
}

}  // namespace sonde::collector
