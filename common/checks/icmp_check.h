// The icmp check type's config side: `count` echo requests to a host,
// `interval_between` apart, of `payload_bytes`, over IPv4, IPv6 or whichever
// the name resolves to first; results name the host. Descriptor only; the
// probe is prober/probes/icmp/. Pure; any thread.
#ifndef SONDE_COMMON_CHECKS_ICMP_CHECK_H_
#define SONDE_COMMON_CHECKS_ICMP_CHECK_H_

#include "common/checks/check_type.h"

namespace sonde::checks {

extern const CheckType kIcmpCheck;

}  // namespace sonde::checks

#endif  // SONDE_COMMON_CHECKS_ICMP_CHECK_H_
