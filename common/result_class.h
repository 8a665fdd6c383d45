// The one rule that decides a ProbeResult's outcome: the failure class is the
// truth and `ok` is derived from it (ok == (class == OK)); a result without a
// class (UNSPECIFIED) proved nothing about its target and becomes
// PROBER_ERROR, never OK. The prober's scheduler and the collector's ingest
// apply it, so the store, the rollups and the detector read one answer.
// PROBER_POLICY (the probe policy refused the address the target led to,
// common/probe_policy.h) is a failure of the check like any target class;
// only PROBER_ERROR is the prober's own fault and never counts against it.
// Header-only, pure, any thread.
#ifndef SONDE_COMMON_RESULT_CLASS_H_
#define SONDE_COMMON_RESULT_CLASS_H_

#include <string>

#include "sonde/v1/result.pb.h"

namespace sonde::common {

// Applies the rule to `r` in place; true when it changed the class or `ok`.
// An UNSPECIFIED class also gets a detail saying so (the probe's own detail,
// if any, follows it).
inline bool NormalizeResultClass(v1::ProbeResult* r) {
  bool changed = false;
  if (r->failure_class() == v1::FailureClass::UNSPECIFIED) {
    r->set_failure_class(v1::FailureClass::PROBER_ERROR);
    r->set_detail(r->detail().empty() ? std::string("probe reported no failure class")
                                      : "probe reported no failure class: " + r->detail());
    changed = true;
  }
  const bool ok = r->failure_class() == v1::FailureClass::OK;
  if (r->ok() != ok) {
    r->set_ok(ok);
    changed = true;
  }
  return changed;
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_RESULT_CLASS_H_
