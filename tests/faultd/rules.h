// Rules: how faultd decides what to do with a client. A RuleSet is an ordered
// list parsed from JSON (see faultd_rules.proto and README.md); for every
// decision the server builds a MatchContext (listener, phase, client source
// address, and what is known in that phase: SNI, path, Host, DNS name) and
// the first matching rule wins; when none matches, defaults() applies.
//
// A RuleSet is immutable once built and shared between threads through
// std::shared_ptr<const RuleSet>; all methods are const and thread-safe.
#ifndef SONDE_TESTS_FAULTD_RULES_H_
#define SONDE_TESTS_FAULTD_RULES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tests/faultd/faultd_rules.pb.h"
#include "tests/faultd/sockets.h"

namespace sonde::faultd {

enum class ListenerKind { kHttp, kHttps, kTls, kTcp, kDns, kControl, kBlackhole, kGrpc };
inline constexpr int kListenerKindCount = 8;
absl::string_view ListenerName(ListenerKind kind);

enum class CertKind {
  kValid,
  kExpired,
  kNotYetValid,
  kWrongHost,
  kSelfSigned,
  kExpiring,
  kGarbledNames
};
inline constexpr int kCertKindCount = 7;
absl::string_view CertKindName(CertKind kind);
absl::StatusOr<CertKind> ParseCertKind(absl::string_view name);

enum class HandshakeFail { kNone, kAlert, kClose, kGarbage };

// When a decision is made. Rules constraining something not known in a phase
// (a path_prefix at accept time, say) do not match in that phase.
enum class Phase {
  kAccept,     // a TCP connection was accepted (source known)
  kHandshake,  // a TLS ClientHello arrived (source and SNI known)
  kRequest,    // an HTTP request, a TCP line, a DNS query or a gRPC health check
};

struct MatchContext {
  ListenerKind listener = ListenerKind::kHttp;
  Phase phase = Phase::kAccept;
  const SocketAddress* source = nullptr;     // borrowed; null never matches `source`
  std::optional<absl::string_view> sni;      // https/tls once the ClientHello is seen
  std::optional<absl::string_view> path;     // http: path without the query
  std::optional<absl::string_view> host;     // http: Host header without port
  std::optional<absl::string_view> name;     // dns: query name
  std::optional<absl::string_view> service;  // grpc: the health check's service
};

// An address prefix: "127.0.0.3" (/32 implied), "127.0.0.0/30", "::1".
class IpPrefix {
 public:
  static absl::StatusOr<IpPrefix> Parse(absl::string_view text);
  bool Contains(const SocketAddress& addr) const;

 private:
  int family_ = 0;
  uint8_t bytes_[16] = {0};
  int bits_ = 0;
};

// DNS record with its RDATA already in wire form.
struct DnsRecordData {
  uint16_t type = 0;
  uint32_t ttl = 60;
  std::string rdata;
};

// TLS protocol versions as on the wire (TLS1_VERSION ... TLS1_3_VERSION).
inline constexpr int kTls10 = 0x0301;
inline constexpr int kTls11 = 0x0302;
inline constexpr int kTls12 = 0x0303;
inline constexpr int kTls13 = 0x0304;

// grpc.health.v1.HealthCheckResponse.ServingStatus numbers.
inline constexpr int kServingUnknown = 0;
inline constexpr int kServing = 1;
inline constexpr int kNotServing = 2;
inline constexpr int kServiceUnknown = 3;

// One validated rule. Accessors return the behaviour with defaults applied.
struct Rule {
  int index = -1;  // position in the list; -1 for the built-in defaults
  pb::Rule spec;
  std::optional<IpPrefix> source;
  CertKind cert = CertKind::kValid;
  int cert_days = 0;  // > 0: a leaf expiring in this many days instead of `cert`
  HandshakeFail handshake_fail = HandshakeFail::kNone;
  int max_tls_version = 0;  // 0: no cap
  int dns_rcode = 0;        // from spec.rcode; NOERROR by default
  // grpc: the HealthCheckResponse.ServingStatus number (SERVING by default)
  // and the gRPC status code answered instead (0 = OK: answer the status).
  int serving_status = kServing;
  int grpc_code = 0;
  std::vector<DnsRecordData> records;

  bool is_default() const { return index < 0; }
  // spec.id, or "#<index>", or "default".
  std::string label() const;
  bool Matches(const MatchContext& ctx) const;

  int status() const { return spec.has_status() ? spec.status() : 200; }
  int fail_status() const { return spec.has_fail_status() ? spec.fail_status() : 503; }
  const std::string& body() const;
  const std::string& banner() const;
  uint32_t negative_ttl() const { return spec.has_negative_ttl() ? spec.negative_ttl() : 60; }
};

class RuleSet {
 public:
  // `json` is a list of rules or {"rules": [...]}; "" and "[]" are empty.
  // Errors name the rule: `rules[2] ("login"): cert: unknown kind "old"`.
  static absl::StatusOr<std::unique_ptr<RuleSet>> FromJson(absl::string_view json);
  static std::unique_ptr<RuleSet> Empty();

  // First rule matching `ctx`, or defaults(). The reference lives as long as
  // this RuleSet.
  const Rule& Match(const MatchContext& ctx) const;
  const Rule& defaults() const { return defaults_; }
  const std::vector<Rule>& rules() const { return rules_; }

  // The rules as a JSON list (proto field names), which FromJson accepts.
  std::string ToJson() const;

  // Set once by the server before the set is shared; stats use it to drop
  // counts that belong to a replaced rule set.
  uint64_t generation() const { return generation_; }
  void set_generation(uint64_t g) { generation_ = g; }

 private:
  RuleSet() = default;
  std::vector<Rule> rules_;
  Rule defaults_;
  uint64_t generation_ = 0;
};

// Lower case, no trailing dot: the form DNS names and hosts are compared in.
std::string NormalizeName(absl::string_view name);

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_RULES_H_
