// Rule parsing (JSON -> proto), validation and matching (see rules.h).
#include "tests/faultd/rules.h"

#include <arpa/inet.h>

#include <iterator>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/faultd/dns_message.h"

namespace sonde::faultd {
namespace {

namespace gpb = ::google::protobuf;

const std::string& DefaultBody() {
  static const std::string* body = new std::string("ok\n");
  return *body;
}
const std::string& DefaultBanner() {
  static const std::string* banner = new std::string("SSH-2.0-OpenSSH_9.2\r\n");
  return *banner;
}

// Which listeners a field may be used with (a rule without `listener`
// may use any field; fields that do not apply are ignored then).
const std::map<std::string, std::set<std::string>>& FieldListeners() {
  static const auto* table = [] {
    auto* t = new std::map<std::string, std::set<std::string>>();
    for (const char* f : {"status", "body", "headers", "fail_share", "fail_status", "fail_seed",
                          "delay_headers_ms", "delay_body_ms", "trickle_bps", "endless_body",
                          "body_bytes", "redirect", "path_prefix", "host"}) {
      (*t)[f] = {"http", "https"};
    }
    (*t)["reset"] = {"http", "https", "tcp"};
    (*t)["close"] = {"http", "https", "tcp"};
    (*t)["reset_on_accept"] = {"http", "https", "tls", "tcp"};
    (*t)["blackhole"] = {"http", "https", "tls", "tcp"};
    for (const char* f : {"cert", "cert_days", "handshake_fail", "max_version", "sni"}) {
      (*t)[f] = {"https", "tls"};
    }
    for (const char* f : {"banner", "banner_delay_ms", "respond", "echo"}) {
      (*t)[f] = {"tcp"};
    }
    for (const char* f :
         {"rcode", "drop", "records", "nodata", "truncate", "negative_ttl", "zone", "name"}) {
      (*t)[f] = {"dns"};
    }
    (*t)["delay_ms"] = {"dns", "grpc"};
    for (const char* f : {"service", "serving_status", "grpc_status", "grpc_message"}) {
      (*t)[f] = {"grpc"};
    }
    return t;
  }();
  return *table;
}

absl::StatusOr<int> ParseTlsVersion(absl::string_view v) {
  std::string s = absl::AsciiStrToUpper(v);
  if (s == "TLS1" || s == "TLS1.0") {
    return kTls10;
  }
  if (s == "TLS1.1") {
    return kTls11;
  }
  if (s == "TLS1.2") {
    return kTls12;
  }
  if (s == "TLS1.3") {
    return kTls13;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("max_version: \"", v, "\" is not one of TLS1 TLS1.1 TLS1.2 TLS1.3"));
}

bool ValidHeaderName(absl::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (char c : name) {
    if (!(absl::ascii_isalnum(c) || absl::StrContains("!#$%&'*+-.^_`|~", c))) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<int> ParseServingStatus(absl::string_view v) {
  static constexpr std::pair<const char*, int> kNames[] = {{"UNKNOWN", kServingUnknown},
                                                           {"SERVING", kServing},
                                                           {"NOT_SERVING", kNotServing},
                                                           {"SERVICE_UNKNOWN", kServiceUnknown}};
  for (const auto& [name, value] : kNames) {
    if (v == name) {
      return value;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "serving_status: \"", v, "\" is not one of SERVING NOT_SERVING UNKNOWN SERVICE_UNKNOWN"));
}

// gRPC status codes by their canonical names (the numbers are the same in
// every gRPC implementation and in absl::StatusCode).
absl::StatusOr<int> ParseGrpcCode(absl::string_view v) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  for (int code = 1; code < static_cast<int>(std::size(kNames)); ++code) {
    if (v == kNames[code]) {
      return code;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("grpc_status: \"", v,
                   "\" is not a non-OK gRPC status code name (UNAVAILABLE, INTERNAL, ...)"));
}

// `text` (UTF-8) as Latin-1 bytes: each character U+0000..U+00FF becomes
// one byte.
absl::Status ToLatin1(const std::string& field, std::string* text) {
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(text->data());
  for (size_t i = 0; i < text->size(); ++i) {
    if (p[i] < 0x80) {
      out.push_back(static_cast<char>(p[i]));
    } else if ((p[i] == 0xC2 || p[i] == 0xC3) && i + 1 < text->size()) {
      out.push_back(static_cast<char>(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3F)));
      ++i;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": with latin1, only characters up to U+00FF"));
    }
  }
  *text = std::move(out);
  return absl::OkStatus();
}

// With `latin1`, the rule's text fields become the bytes they name.
absl::Status ApplyLatin1(pb::Rule* s) {
  for (auto [name, field] : std::initializer_list<std::pair<const char*, std::string*>>{
           {"body", s->has_body() ? s->mutable_body() : nullptr},
           {"banner", s->has_banner() ? s->mutable_banner() : nullptr},
           {"respond", s->has_respond() ? s->mutable_respond() : nullptr},
           {"grpc_message", s->has_grpc_message() ? s->mutable_grpc_message() : nullptr}}) {
    if (field != nullptr) {
      RETURN_IF_ERROR(ToLatin1(name, field));
    }
  }
  for (auto& [name, value] : *s->mutable_headers()) {
    RETURN_IF_ERROR(ToLatin1(absl::StrCat("headers.", name), &value));
  }
  for (pb::DnsRecord& r : *s->mutable_records()) {
    RETURN_IF_ERROR(ToLatin1("records.data", r.mutable_data()));
  }
  return absl::OkStatus();
}

// Validates one rule and fills the parsed fields.
absl::Status Compile(Rule* rule) {
  if (rule->spec.latin1()) {
    RETURN_IF_ERROR(ApplyLatin1(&rule->spec));
  }
  const pb::Rule& s = rule->spec;
  static const std::set<std::string> kListeners = {"",    "http", "https", "tls",
                                                   "tcp", "dns",  "grpc"};
  if (!kListeners.count(s.listener())) {
    return absl::InvalidArgumentError(
        absl::StrCat("listener: \"", s.listener(), "\" is not one of http https tls tcp dns grpc"));
  }
  // Fields that do not apply to the rule's listener are errors, so a typo in
  // `listener` or a misplaced field does not silently do nothing.
  if (!s.listener().empty()) {
    std::vector<const gpb::FieldDescriptor*> set_fields;
    s.GetReflection()->ListFields(s, &set_fields);
    for (const gpb::FieldDescriptor* f : set_fields) {
      auto it = FieldListeners().find(f->name());
      if (it != FieldListeners().end() && !it->second.count(s.listener())) {
        return absl::InvalidArgumentError(absl::StrCat(f->name(), ": does not apply to listener \"",
                                                       s.listener(), "\" (applies to ",
                                                       absl::StrJoin(it->second, ", "), ")"));
      }
    }
  }
  int actions = (s.reset() ? 1 : 0) + (s.reset_on_accept() ? 1 : 0) + (s.close() ? 1 : 0) +
                (s.blackhole() ? 1 : 0) + (s.drop() ? 1 : 0);
  if (actions > 1) {
    return absl::InvalidArgumentError(
        "at most one of reset, reset_on_accept, close, blackhole, drop may be "
        "true");
  }
  if (!s.source().empty()) {
    auto p = IpPrefix::Parse(s.source());
    if (!p.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("source: ", p.status().message()));
    }
    rule->source = *p;
  }
  if (s.has_status() && (s.status() < 200 || s.status() > 599)) {
    return absl::InvalidArgumentError("status: must be 200..599");
  }
  if (s.has_fail_status() && (s.fail_status() < 200 || s.fail_status() > 599)) {
    return absl::InvalidArgumentError("fail_status: must be 200..599");
  }
  if (s.has_fail_share() && !(s.fail_share() >= 0.0 && s.fail_share() <= 1.0)) {
    return absl::InvalidArgumentError("fail_share: must be 0..1");
  }
  if (s.endless_body() && s.has_body_bytes()) {
    return absl::InvalidArgumentError("endless_body and body_bytes exclude each other");
  }
  if (s.has_redirect() && (s.redirect().empty() || absl::StrContains(s.redirect(), '\r') ||
                           absl::StrContains(s.redirect(), '\n'))) {
    return absl::InvalidArgumentError("redirect: must be a non-empty URL on one line");
  }
  if (!s.path_prefix().empty() && s.path_prefix()[0] != '/') {
    return absl::InvalidArgumentError("path_prefix: must start with '/'");
  }
  for (const auto& [name, value] : s.headers()) {
    if (!ValidHeaderName(name)) {
      return absl::InvalidArgumentError(absl::StrCat("headers: bad header name \"", name, "\""));
    }
    if (absl::StrContains(value, '\r') || absl::StrContains(value, '\n')) {
      return absl::InvalidArgumentError(
          absl::StrCat("headers: value of \"", name, "\" must be one line"));
    }
  }
  if (s.has_cert()) {
    auto kind = ParseCertKind(s.cert());
    if (!kind.ok()) {
      return kind.status();
    }
    rule->cert = *kind;
  }
  if (s.has_cert_days()) {
    if (s.has_cert()) {
      return absl::InvalidArgumentError("cert_days: give either cert or cert_days");
    }
    if (s.cert_days() < 1 || s.cert_days() > 3650) {
      return absl::InvalidArgumentError(
          absl::StrCat("cert_days: ", s.cert_days(), " is not in 1..3650"));
    }
    rule->cert_days = static_cast<int>(s.cert_days());
  }
  if (s.has_handshake_fail()) {
    if (s.handshake_fail() == "alert") {
      rule->handshake_fail = HandshakeFail::kAlert;
    } else if (s.handshake_fail() == "close") {
      rule->handshake_fail = HandshakeFail::kClose;
    } else if (s.handshake_fail() == "garbage") {
      rule->handshake_fail = HandshakeFail::kGarbage;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("handshake_fail: \"", s.handshake_fail(),
                                                     "\" is not one of alert close garbage"));
    }
  }
  if (s.has_max_version()) {
    auto v = ParseTlsVersion(s.max_version());
    if (!v.ok()) {
      return v.status();
    }
    rule->max_tls_version = *v;
  }
  if (s.has_rcode()) {
    auto rc = dns::RcodeFromName(s.rcode());
    if (!rc.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("rcode: ", rc.status().message()));
    }
    rule->dns_rcode = *rc;
  }
  if (!s.name().empty()) {
    absl::string_view n = s.name();
    absl::ConsumePrefix(&n, "*.");
    if (!dns::EncodeName(n).ok() || NormalizeName(n).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("name: \"", s.name(), "\" is not a DNS name"));
    }
  }
  if (s.has_serving_status()) {
    auto st = ParseServingStatus(s.serving_status());
    if (!st.ok()) {
      return st.status();
    }
    rule->serving_status = *st;
  }
  if (s.has_grpc_status()) {
    auto code = ParseGrpcCode(s.grpc_status());
    if (!code.ok()) {
      return code.status();
    }
    rule->grpc_code = *code;
  }
  if (s.has_grpc_message() && !s.has_grpc_status()) {
    return absl::InvalidArgumentError("grpc_message: needs grpc_status");
  }
  if (!s.zone().empty() && !dns::EncodeName(s.zone()).ok()) {
    return absl::InvalidArgumentError(absl::StrCat("zone: \"", s.zone(), "\" is not a DNS name"));
  }
  for (int i = 0; i < s.records_size(); ++i) {
    const pb::DnsRecord& r = s.records(i);
    auto type = dns::TypeFromName(r.type());
    if (!type.ok() || *type == dns::kTypeANY) {
      return absl::InvalidArgumentError(absl::StrCat(
          "records[", i, "].type: \"", r.type(), "\" is not one of A AAAA CNAME MX TXT NS SOA"));
    }
    auto rdata = dns::EncodeRdata(*type, r.data());
    if (!rdata.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("records[", i, "].data: ", rdata.status().message()));
    }
    rule->records.push_back(DnsRecordData{*type, r.has_ttl() ? r.ttl() : 60, *rdata});
  }
  return absl::OkStatus();
}

bool ListenerMatches(absl::string_view want, const MatchContext& ctx) {
  if (want.empty()) {
    return true;
  }
  switch (ctx.listener) {
    case ListenerKind::kHttp:
      return want == "http";
    case ListenerKind::kHttps:
      // The handshake of an HTTPS listener is a TLS exchange like any other.
      return want == "https" || (want == "tls" && ctx.phase != Phase::kRequest);
    case ListenerKind::kTls:
      return want == "tls";
    case ListenerKind::kTcp:
      return want == "tcp";
    case ListenerKind::kDns:
      return want == "dns";
    case ListenerKind::kGrpc:
      return want == "grpc";
    default:
      return false;
  }
}

std::string HostWithoutPort(absl::string_view host) {
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    return NormalizeName(
        host.substr(1, close == absl::string_view::npos ? host.size() - 1 : close - 1));
  }
  size_t colon = host.find(':');
  return NormalizeName(host.substr(0, colon));
}

bool NameMatches(absl::string_view pattern, absl::string_view name) {
  std::string n = NormalizeName(name);
  if (absl::ConsumePrefix(&pattern, "*.")) {
    std::string suffix = absl::StrCat(".", NormalizeName(pattern));
    return n.size() > suffix.size() && absl::EndsWith(n, suffix);
  }
  return n == NormalizeName(pattern);
}

}  // namespace

absl::string_view ListenerName(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::kHttp:
      return "http";
    case ListenerKind::kHttps:
      return "https";
    case ListenerKind::kTls:
      return "tls";
    case ListenerKind::kTcp:
      return "tcp";
    case ListenerKind::kDns:
      return "dns";
    case ListenerKind::kControl:
      return "control";
    case ListenerKind::kBlackhole:
      return "blackhole";
    case ListenerKind::kGrpc:
      return "grpc";
  }
  return "?";
}

absl::string_view CertKindName(CertKind kind) {
  switch (kind) {
    case CertKind::kValid:
      return "valid";
    case CertKind::kExpired:
      return "expired";
    case CertKind::kNotYetValid:
      return "not_yet_valid";
    case CertKind::kWrongHost:
      return "wrong_host";
    case CertKind::kSelfSigned:
      return "self_signed";
    case CertKind::kExpiring:
      return "expiring";
    case CertKind::kGarbledNames:
      return "garbled_names";
  }
  return "?";
}

absl::StatusOr<CertKind> ParseCertKind(absl::string_view name) {
  for (int i = 0; i < kCertKindCount; ++i) {
    if (CertKindName(static_cast<CertKind>(i)) == name) {
      return static_cast<CertKind>(i);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cert: \"", name,
                   "\" is not one of valid expired not_yet_valid wrong_host garbled_names "
                   "self_signed expiring"));
}

std::string NormalizeName(absl::string_view name) {
  absl::ConsumeSuffix(&name, ".");
  return absl::AsciiStrToLower(name);
}

absl::StatusOr<IpPrefix> IpPrefix::Parse(absl::string_view text) {
  IpPrefix p;
  std::string addr(text);
  int bits = -1;
  if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
    addr = std::string(text.substr(0, slash));
    if (!absl::SimpleAtoi(text.substr(slash + 1), &bits) || bits < 0) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": bad prefix length"));
    }
  }
  if (inet_pton(AF_INET, addr.c_str(), p.bytes_) == 1) {
    p.family_ = AF_INET;
    p.bits_ = bits < 0 ? 32 : bits;
    if (p.bits_ > 32) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": /0../32"));
    }
  } else if (inet_pton(AF_INET6, addr.c_str(), p.bytes_) == 1) {
    p.family_ = AF_INET6;
    p.bits_ = bits < 0 ? 128 : bits;
    if (p.bits_ > 128) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": /0../128"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IP address"));
  }
  return p;
}

bool IpPrefix::Contains(const SocketAddress& addr) const {
  const uint8_t* a = nullptr;
  int family = addr.family();
  if (family == AF_INET) {
    a = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&addr.storage)->sin_addr);
  } else if (family == AF_INET6) {
    const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&addr.storage)->sin6_addr;
    a = a6.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      family = AF_INET;
      a = a6.s6_addr + 12;
    }
  }
  if (a == nullptr || family != family_) {
    return false;
  }
  int full = bits_ / 8;
  for (int i = 0; i < full; ++i) {
    if (a[i] != bytes_[i]) {
      return false;
    }
  }
  int rest = bits_ % 8;
  if (rest == 0) {
    return true;
  }
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (a[full] & mask) == (bytes_[full] & mask);
}

std::string Rule::label() const {
  if (index < 0) {
    return "default";
  }
  if (!spec.id().empty()) {
    return spec.id();
  }
  return absl::StrCat("#", index);
}

const std::string& Rule::body() const { return spec.has_body() ? spec.body() : DefaultBody(); }

const std::string& Rule::banner() const {
  return spec.has_banner() ? spec.banner() : DefaultBanner();
}

bool Rule::Matches(const MatchContext& ctx) const {
  if (!ListenerMatches(spec.listener(), ctx)) {
    return false;
  }
  if (source && (ctx.source == nullptr || !source->Contains(*ctx.source))) {
    return false;
  }
  if (!spec.path_prefix().empty() &&
      (!ctx.path || !absl::StartsWith(*ctx.path, spec.path_prefix()))) {
    return false;
  }
  if (!spec.host().empty() &&
      (!ctx.host || HostWithoutPort(*ctx.host) != NormalizeName(spec.host()))) {
    return false;
  }
  if (!spec.sni().empty() && (!ctx.sni || NormalizeName(*ctx.sni) != NormalizeName(spec.sni()))) {
    return false;
  }
  if (!spec.name().empty() && (!ctx.name || !NameMatches(spec.name(), *ctx.name))) {
    return false;
  }
  if (spec.has_service() && (!ctx.service || *ctx.service != spec.service())) {
    return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<RuleSet>> RuleSet::FromJson(absl::string_view json) {
  std::unique_ptr<RuleSet> set(new RuleSet());
  absl::string_view trimmed = absl::StripAsciiWhitespace(json);
  if (trimmed.empty()) {
    return set;
  }
  gpb::Value root;
  auto st = gpb::util::JsonStringToMessage(std::string(trimmed), &root);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("rules: not valid JSON: ", st.ToString()));
  }
  const gpb::ListValue* list = nullptr;
  if (root.has_list_value()) {
    list = &root.list_value();
  } else if (root.has_struct_value() && root.struct_value().fields_size() == 1 &&
             root.struct_value().fields().count("rules") &&
             root.struct_value().fields().at("rules").has_list_value()) {
    list = &root.struct_value().fields().at("rules").list_value();
  } else {
    return absl::InvalidArgumentError(
        "rules: expected a JSON list of rule objects (or {\"rules\": [...]})");
  }
  for (int i = 0; i < list->values_size(); ++i) {
    const gpb::Value& v = list->values(i);
    std::string where = absl::StrCat("rules[", i, "]");
    if (!v.has_struct_value()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": must be a JSON object"));
    }
    if (auto it = v.struct_value().fields().find("id");
        it != v.struct_value().fields().end() && it->second.has_string_value()) {
      absl::StrAppend(&where, " (\"", it->second.string_value(), "\")");
    }
    std::string element;
    if (!gpb::util::MessageToJsonString(v, &element).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": cannot re-encode"));
    }
    Rule rule;
    rule.index = i;
    st = gpb::util::JsonStringToMessage(element, &rule.spec);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", st.message().ToString()));
    }
    absl::Status cs = Compile(&rule);
    if (!cs.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", cs.message()));
    }
    set->rules_.push_back(std::move(rule));
  }
  return set;
}

std::unique_ptr<RuleSet> RuleSet::Empty() { return std::unique_ptr<RuleSet>(new RuleSet()); }

const Rule& RuleSet::Match(const MatchContext& ctx) const {
  for (const Rule& r : rules_) {
    if (r.Matches(ctx)) {
      return r;
    }
  }
  return defaults_;
}

std::string RuleSet::ToJson() const {
  gpb::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::vector<std::string> parts;
  for (const Rule& r : rules_) {
    std::string one;
    (void)gpb::util::MessageToJsonString(r.spec, &one, opts);
    parts.push_back(std::move(one));
  }
  if (parts.empty()) {
    return "[]";
  }
  return absl::StrCat("[\n  ", absl::StrJoin(parts, ",\n  "), "\n]");
}

}  // namespace sonde::faultd
