// CheckType: the config side of one probe type — its kind name, how its spec
// is validated, which defaults it gets and which target its results name. It
// is a plain descriptor (a table of functions), one per probe type, defined in
// common/checks/<kind>_check.cc and listed once in common/checks/registry.cc.
//
// This half of a probe type depends only on the proto and common/, so the
// collector and sondectl validate configs without linking curl, c-ares or any
// probe code; the runtime half (the Probe) lives in prober/probes/<kind>/ and
// is listed in prober/probes/registry.cc. Pure functions; any thread.
#ifndef SONDE_COMMON_CHECKS_CHECK_TYPE_H_
#define SONDE_COMMON_CHECKS_CHECK_TYPE_H_

#include <string>

#include "sonde/v1/check.pb.h"

namespace sonde::checks {

// Where a check type reports what is wrong with a spec. Field names are
// relative to the spec ("url", "expect_status[2]"); the config loader adds the
// file, line, check label and the kind prefix ("http.url").
class SpecErrors {
 public:
  virtual ~SpecErrors() = default;
  virtual void Add(const std::string& field, const std::string& message) = 0;
};

struct CheckType {
  // The proto oneof member of v1::Check that selects this type.
  v1::Check::SpecCase spec_case;
  // The kind name: the oneof field's name in YAML, ProbeResult.kind.
  const char* kind;
  // Reports every problem in the check's spec to `errors`. The check's
  // generic fields (name, interval, regions...) are checked by the loader.
  void (*validate)(const v1::Check& check, SpecErrors* errors);
  // Fills the spec's unset fields with their defaults; runs after validate
  // found nothing.
  void (*apply_defaults)(v1::Check* check);
  // What a result of this check names as its target: "host:port", the URL,
  // "name TYPE". Reads a check with defaults applied.
  std::string (*target)(const v1::Check& check);
};

}  // namespace sonde::checks

#endif  // SONDE_COMMON_CHECKS_CHECK_TYPE_H_
