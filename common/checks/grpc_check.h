// The grpc check type's config side: grpc.health.v1.Health/Check for a
// service at a target, in plain text or over TLS; results name the target.
// Descriptor only; the probe is prober/probes/grpc/. Pure; any thread.
#ifndef SONDE_COMMON_CHECKS_GRPC_CHECK_H_
#define SONDE_COMMON_CHECKS_GRPC_CHECK_H_

#include "common/checks/check_type.h"

namespace sonde::checks {

extern const CheckType kGrpcCheck;

}  // namespace sonde::checks

#endif  // SONDE_COMMON_CHECKS_GRPC_CHECK_H_
