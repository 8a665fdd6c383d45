// The tcp check type's config side: a TCP connect to host:port, optionally reading a banner that
// must match a pattern; results name host:port.
// Descriptor only; the probe is prober/probes/tcp/. Pure; any thread.
#ifndef SONDE_COMMON_CHECKS_TCP_CHECK_H_
#define SONDE_COMMON_CHECKS_TCP_CHECK_H_

#include "common/checks/check_type.h"

namespace sonde::checks {

extern const CheckType kTcpCheck;

}  // namespace sonde::checks

#endif  // SONDE_COMMON_CHECKS_TCP_CHECK_H_
