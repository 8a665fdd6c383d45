// The explicit list of probe types (no static self-registration: static
// libraries would drop it). Adding a probe type means one line here.
#ifndef SONDE_PROBER_PROBES_REGISTRY_H_
#define SONDE_PROBER_PROBES_REGISTRY_H_

#include <memory>

#include "prober/probes/probe.h"

namespace sonde::prober {

// A probe for `check`, or nullptr when its kind has no probe. The probe
// refers to `check`, which must outlive it (probe.h).
std::unique_ptr<Probe> MakeProbe(const v1::Check& check, ProbeEnv* env);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_REGISTRY_H_
