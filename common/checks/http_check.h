// The http check type's config side: a URL fetched with a method, expected statuses, body and
// header patterns, requests_per_run fresh connections; results name the URL. Descriptor only; the
// probe is prober/probes/http/. Pure; any thread.
#ifndef SONDE_COMMON_CHECKS_HTTP_CHECK_H_
#define SONDE_COMMON_CHECKS_HTTP_CHECK_H_

#include "common/checks/check_type.h"

namespace sonde::checks {

extern const CheckType kHttpCheck;

}  // namespace sonde::checks

#endif  // SONDE_COMMON_CHECKS_HTTP_CHECK_H_
