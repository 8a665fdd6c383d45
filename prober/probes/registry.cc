#include "prober/probes/registry.h"

#include "prober/probes/http/http_probe.h"

namespace sonde::prober {

std::unique_ptr<Probe> MakeProbe(const v1::Check& check, ProbeEnv* env) {
  switch (check.spec_case()) {
    case v1::Check::kHttp:
      return std::make_unique<HttpProbe>(check, env);
    default:
      return nullptr;
  }
}

}  // namespace sonde::prober
