// ProbePolicy: which addresses probes may connect to, for configs that are
// managed centrally and targets that answer with redirects or DNS records
// pointing inside the network (blackbox_exporter CVE-2020-16248: a probed
// URL redirecting to 169.254.169.254 read the cloud metadata service). Built
// from the config's `probe_policy` (v1::ProbePolicy); the config loader uses
// ParseNetwork to validate it, the prober's probes ask Check with every
// address they are about to connect to (after resolution, on every redirect
// hop). The most specific matching network decides (allow wins a tie); an
// address no network matches is allowed unless allow_networks is set.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as IPv4.
// Immutable after Create; any thread.
#ifndef SONDE_COMMON_PROBE_POLICY_H_
#define SONDE_COMMON_PROBE_POLICY_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sonde/v1/check.pb.h"

namespace sonde::common {

// One CIDR network: "10.0.0.0/8", "fd00::/8"; a bare address is a host.
struct IpNetwork {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};
  int prefix = 0;
  std::string text;  // as configured
};

// The network in `text`, or InvalidArgument saying what is wrong (host
// bits set below the prefix are refused: "10.1.2.3/8" is a typo).
absl::StatusOr<IpNetwork> ParseNetwork(absl::string_view text);

class ProbePolicy {
 public:
  ProbePolicy() = default;  // off: every address allowed
  // InvalidArgument naming the first bad entry ("deny_networks[2]: ...").
  static absl::StatusOr<ProbePolicy> Create(const v1::ProbePolicy& spec);
  // A policy that refuses every address with `reason`: what a prober runs
  // with when the policy it was given cannot be read (fail closed).
  static ProbePolicy DenyAll(std::string reason);

  bool enabled() const { return deny_all_ || !deny_.empty() || !allow_.empty(); }

  // OK, or PermissionDenied saying which address and which rule ("probe
  // policy refuses 169.254.169.254: in deny_networks 169.254.0.0/16"). An
  // address that is not an IP literal is refused.
  absl::Status Check(absl::string_view ip) const;
  absl::Status Check(const sockaddr* address) const;

 private:
  bool deny_all_ = false;
  std::string deny_all_reason_;
  std::vector<IpNetwork> deny_;
  std::vector<IpNetwork> allow_;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_PROBE_POLICY_H_
