// The tls check type's config side: a TLS handshake with host:port (default port 443), optional
// STARTTLS; results name host:port.
// Descriptor only; the probe is prober/probes/tls/. Pure; any thread.
#ifndef SONDE_COMMON_CHECKS_TLS_CHECK_H_
#define SONDE_COMMON_CHECKS_TLS_CHECK_H_

#include "common/checks/check_type.h"

namespace sonde::checks {

extern const CheckType kTlsCheck;

}  // namespace sonde::checks

#endif  // SONDE_COMMON_CHECKS_TLS_CHECK_H_
