#include "collector/storage/extra_json.h"

#include <array>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "absl/strings/numbers.h"
#include "collector/storage/civil_time.h"
#include "collector/storage/copy_rows.h"
#include "common/result_json.h"
#include "google/protobuf/util/json_util.h"

namespace sonde::collector {
namespace {

using common::AppendJsonString;
namespace pb = google::protobuf;

// MessageToJsonString builds a type description and an object-writer
// pipeline per call, and a printer that walks the message by reflection
// spends most of its time finding each field's offset and presence bit;
// ingest prints one JSON per result. This printer calls the generated
// accessors, field by field in field-number order, and writes what
// MessageToJsonString writes with preserve_proto_field_names: set fields
// only, 64-bit integers as strings, enums by name (unknown values as
// numbers), google.protobuf.Timestamp in RFC 3339, doubles in protobuf's
// shortest round-trip digits. It knows the fields by number (the lists
// below); DirectJsonCovers holds the messages' descriptors to those lists,
// so a new field goes through protobuf's printer until it is added here,
// and the tests fail until then (store_encoding_test.cc).

constexpr std::initializer_list<int> kResultFields = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
    23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 40, 41, 42, 43, 44, 45, 50, 51};
constexpr std::initializer_list<int> kResolverFields = {1, 2, 3, 4, 5};
constexpr std::initializer_list<int> kRecordFields = {1, 2, 3, 4};

bool HasExactlyFields(const pb::Descriptor* d, std::initializer_list<int> numbers) {
  if (d->field_count() != static_cast<int>(numbers.size())) {
    return false;
  }
  for (int number : numbers) {
    if (d->FindFieldByNumber(number) == nullptr) {
      return false;
    }
  }
  return true;
}

// Writes a string literal: AppendJsonString, or AppendJsonStringInCopyText
// when the JSON is written as a COPY field.
using StringEscaper = void (*)(absl::string_view, std::string*);

// The members of one JSON object, between the braces it writes: Key()
// appends `"name":` after a comma unless it is the first; the typed ones
// skip a value proto3 JSON leaves out (zero, empty, false).
class Members {
 public:
  Members(StringEscaper escape, std::string* out) : escape_(escape), out_(out) {
    out_->push_back('{');
  }
  ~Members() { out_->push_back('}'); }
  Members(const Members&) = delete;
  Members& operator=(const Members&) = delete;

  std::string* Key(absl::string_view name) {
    if (!first_) {
      out_->push_back(',');
    }
    first_ = false;
    out_->push_back('"');
    out_->append(name.data(), name.size());
    out_->append("\":");
    return out_;
  }
  void String(absl::string_view name, const std::string& v) {
    if (!v.empty()) {
      escape_(v, Key(name));
    }
  }
  void Int(absl::string_view name, int64_t v) {
    if (v != 0) {
      char buf[absl::numbers_internal::kFastToBufferSize];
      Key(name)->append(buf, absl::numbers_internal::FastIntToBuffer(v, buf) - buf);
    }
  }
  void Uint64(absl::string_view name, uint64_t v) {  // as a JSON string
    if (v != 0) {
      char buf[absl::numbers_internal::kFastToBufferSize];
      std::string* out = Key(name);
      out->push_back('"');
      out->append(buf, absl::numbers_internal::FastIntToBuffer(v, buf) - buf);
      out->push_back('"');
    }
  }
  void Bool(absl::string_view name, bool v) {
    if (v) {
      Key(name)->append("true");
    }
  }
  void Enum(absl::string_view name, int v);
  StringEscaper escape() const { return escape_; }
  void Double(absl::string_view name, double v);
  // `"name":[...]` unless `items` is empty, `append(item, out)` writing
  // each item.
  template <typename Items, typename AppendItem>
  void List(absl::string_view name, const Items& items, AppendItem append) {
    if (items.empty()) {
      return;
    }
    std::string* out = Key(name);
    out->push_back('[');
    const char* separator = "";
    for (const auto& item : items) {
      out->append(separator);
      separator = ",";
      append(item, out);
    }
    out->push_back(']');
  }

 private:
  StringEscaper escape_;
  std::string* out_;
  bool first_ = true;
};

// FailureClass.Code names by number, looked up once.
const std::string* CodeName(int v) {
  static const auto* names = [] {
    auto* table = new std::array<const std::string*, 128>();
    const pb::EnumDescriptor* e = v1::FailureClass::Code_descriptor();
    for (int i = 0; i < e->value_count(); ++i) {
      const int number = e->value(i)->number();
      if (number >= 0 && number < static_cast<int>(table->size()) && (*table)[number] == nullptr) {
        (*table)[number] = &e->value(i)->name();
      }
    }
    return table;
  }();
  if (v >= 0 && v < static_cast<int>(names->size())) {
    return (*names)[v];
  }
  const pb::EnumValueDescriptor* value = v1::FailureClass::Code_descriptor()->FindValueByNumber(v);
  return value == nullptr ? nullptr : &value->name();
}

void Members::Enum(absl::string_view name, int v) {
  if (v == 0) {
    return;
  }
  if (const std::string* label = CodeName(v); label != nullptr) {
    escape_(*label, Key(name));
  } else {
    char buf[absl::numbers_internal::kFastToBufferSize];
    Key(name)->append(buf, absl::numbers_internal::FastIntToBuffer(v, buf) - buf);
  }
}

// Protobuf's digits: 15 significant ones when they read back as the same
// double, else 17; non-finite values as quoted "NaN" / "Infinity". A field
// holding -0.0 is set (its bits are not zero) and prints as -0.
void Members::Double(absl::string_view name, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  if (bits == 0) {
    return;
  }
  std::string* out = Key(name);
  if (std::isnan(v)) {
    out->append("\"NaN\"");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.*g", DBL_DIG, v);
  if (std::strtod(buf, nullptr) != v) {
    n = std::snprintf(buf, sizeof buf, "%.*g", DBL_DIG + 2, v);
  }
  out->append(buf, n);
}

// RFC 3339 with 0, 3, 6 or 9 fractional digits, as protobuf prints it;
// false out of protobuf's range (its printer then refuses the message).
bool AppendTimestampJson(const pb::Timestamp& t, std::string* out) {
  const int64_t seconds = t.seconds();
  const int32_t nanos = t.nanos();
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

void AppendRecordJson(StringEscaper escape, const v1::DnsRecord& r, std::string* out) {
  Members m(escape, out);
  m.String("name", r.name());
  m.String("type", r.type());
  m.Int("ttl", r.ttl());
  m.String("data", r.data());
}

void AppendResolverJson(StringEscaper escape, const v1::DnsResolverResult& r, std::string* out) {
  Members m(escape, out);
  m.String("resolver", r.resolver());
  m.String("rcode", r.rcode());
  m.List("answers", r.answers(),
         [escape](const v1::DnsRecord& a, std::string* out) { AppendRecordJson(escape, a, out); });
  m.Int("rtt_us", r.rtt_us());
  m.Enum("failure_class", r.failure_class());
}

// False when protobuf's printer must decide (a timestamp out of range).
bool AppendResultJson(StringEscaper escape, const v1::ProbeResult& r, std::string* out) {
  Members m(escape, out);
  m.String("check_id", r.check_id());
  m.String("service", r.service());
  m.String("kind", r.kind());
  m.String("prober_id", r.prober_id());
  m.String("region", r.region());
  m.Uint64("seq", r.seq());
  if (r.has_start_time() && !AppendTimestampJson(r.start_time(), m.Key("start_time"))) {
    return false;
  }
  m.Bool("ok", r.ok());
  m.Enum("failure_class", r.failure_class());
  m.String("detail", r.detail());
  m.Int("dns_us", r.dns_us());
  m.Int("connect_us", r.connect_us());
  m.Int("tls_us", r.tls_us());
  m.Int("first_byte_us", r.first_byte_us());
  m.Int("total_us", r.total_us());
  m.String("target", r.target());
  m.String("resolved_address", r.resolved_address());
  m.Int("http_status", r.http_status());
  m.Int("request_index", r.request_index());
  m.String("tls_version", r.tls_version());
  m.String("tls_cipher", r.tls_cipher());
  m.String("cert_subject", r.cert_subject());
  m.String("cert_issuer", r.cert_issuer());
  m.List("cert_sans", r.cert_sans(), escape);
  m.String("cert_not_before", r.cert_not_before());
  m.String("cert_not_after", r.cert_not_after());
  m.Int("cert_days_left", r.cert_days_left());
  m.String("chain_not_after", r.chain_not_after());
  m.String("banner", r.banner());
  m.String("dns_rcode", r.dns_rcode());
  m.List("dns", r.dns(), [escape](const v1::DnsResolverResult& d, std::string* out) {
    AppendResolverJson(escape, d, out);
  });
  m.Uint64("body_bytes", r.body_bytes());
  m.String("fallback_address", r.fallback_address());
  m.Enum("fallback_class", r.fallback_class());
  m.Int("fallback_http_status", r.fallback_http_status());
  m.Int("icmp_sent", r.icmp_sent());
  m.Int("icmp_received", r.icmp_received());
  m.Double("icmp_loss", r.icmp_loss());
  m.Int("rtt_min_us", r.rtt_min_us());
  m.Int("rtt_avg_us", r.rtt_avg_us());
  m.Int("rtt_max_us", r.rtt_max_us());
  m.Int("grpc_status_code", r.grpc_status_code());
  m.String("grpc_serving_status", r.grpc_serving_status());
  return true;
}

}  // namespace

bool DirectJsonCovers(const pb::Descriptor* d) {
  return d == v1::ProbeResult::descriptor() && HasExactlyFields(d, kResultFields) &&
         HasExactlyFields(v1::DnsResolverResult::descriptor(), kResolverFields) &&
         HasExactlyFields(v1::DnsRecord::descriptor(), kRecordFields);
}

namespace {

bool DirectPrinterUsable() {
  static const bool kDirect = DirectJsonCovers(v1::ProbeResult::descriptor());
  return kDirect;
}

std::string ProtobufResultJson(const v1::ProbeResult& result) {
  std::string json;
  pb::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  if (!pb::util::MessageToJsonString(result, &json, opts).ok()) {
    json = "{}";
  }
  return json;
}

}  // namespace

std::string ResultJson(const v1::ProbeResult& result) {
  std::string json;
  if (DirectPrinterUsable()) {
    json.reserve(1024);
    if (AppendResultJson(AppendJsonString, result, &json)) {
      return json;
    }
  }
  return ProtobufResultJson(result);
}

void AppendResultJsonCopyField(const v1::ProbeResult& result, std::string* out) {
  const size_t at = out->size();
  if (DirectPrinterUsable() && AppendResultJson(common::AppendJsonStringInCopyText, result, out)) {
    return;
  }
  out->resize(at);
  AppendCopyField(ProtobufResultJson(result), out);
}

}  // namespace sonde::collector
