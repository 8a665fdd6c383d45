// The incident rules, listed once (registry.cc), in evaluation order: a
// check's findings come out in this order. No static self-registration
// (static libraries drop it). Built on first use; immutable; any thread.
#ifndef SONDE_COLLECTOR_DETECT_RULES_REGISTRY_H_
#define SONDE_COLLECTOR_DETECT_RULES_REGISTRY_H_

#include <memory>
#include <vector>

#include "collector/detect/rules/rule.h"

namespace sonde::detect::rules {

const std::vector<std::unique_ptr<Rule>>& Registry();

}  // namespace sonde::detect::rules

#endif  // SONDE_COLLECTOR_DETECT_RULES_REGISTRY_H_
