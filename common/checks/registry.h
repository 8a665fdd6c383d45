// The explicit list of check types (no static self-registration: static
// libraries would drop it). Adding a probe type adds one line to
// registry.cc here and one to prober/probes/registry.cc. Pure; any thread.
#ifndef SONDE_COMMON_CHECKS_REGISTRY_H_
#define SONDE_COMMON_CHECKS_REGISTRY_H_

#include <string>
#include <vector>

#include "common/checks/check_type.h"
#include "sonde/v1/check.pb.h"

namespace sonde::checks {

// Every known check type, in proto field order.
const std::vector<const CheckType*>& AllCheckTypes();

// The type of `check`, or nullptr when no spec is set.
const CheckType* FindCheckType(const v1::Check& check);

// The kind name of `check` ("http", "tls", ...), or "" when no spec is set.
std::string KindOf(const v1::Check& check);

// The target its results name; "" when no spec is set.
std::string TargetOf(const v1::Check& check);

}  // namespace sonde::checks

#endif  // SONDE_COMMON_CHECKS_REGISTRY_H_
