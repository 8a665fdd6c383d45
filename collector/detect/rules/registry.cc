#include "collector/detect/rules/registry.h"

namespace sonde::detect::rules {

// Each defined in its own file of this folder.
std::unique_ptr<Rule> NewOutageRule();
std::unique_ptr<Rule> NewPartialFailureRule();
std::unique_ptr<Rule> NewLatencyRule();
std::unique_ptr<Rule> NewFlappingRule();
std::unique_ptr<Rule> NewCertExpiringRule();

const std::vector<std::unique_ptr<Rule>>& Registry() {
  static const auto* const rules = [] {
    auto* r = new std::vector<std::unique_ptr<Rule>>;
    // Availability first (outage, then partial failure: at most one fires).
    r->push_back(NewOutageRule());
    r->push_back(NewPartialFailureRule());
    r->push_back(NewLatencyRule());
    r->push_back(NewFlappingRule());
    r->push_back(NewCertExpiringRule());
    return r;
  }();
  return *rules;
}

}  // namespace sonde::detect::rules
