// The dns check type's config side: one query (name, type) to each configured resolver, answers
// compared exactly or by containment; results name "name TYPE".
// Descriptor only; the probe is prober/probes/dns/. Pure; any thread.
#ifndef SONDE_COMMON_CHECKS_DNS_CHECK_H_
#define SONDE_COMMON_CHECKS_DNS_CHECK_H_

#include "common/checks/check_type.h"

namespace sonde::checks {

extern const CheckType kDnsCheck;

}  // namespace sonde::checks

#endif  // SONDE_COMMON_CHECKS_DNS_CHECK_H_
