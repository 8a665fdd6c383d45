// The User-Agent header every HTTP check sends unless its `headers` set one
// (docs/configuration.md). Header-only, so that bench/probe_floor.cc sends
// the prober's request byte for byte: the request is the probe's cost, not
// Sonde's bookkeeping (bench/README.md, "How it measures").
#ifndef SONDE_PROBER_PROBES_HTTP_USER_AGENT_H_
#define SONDE_PROBER_PROBES_HTTP_USER_AGENT_H_

namespace sonde::prober {

inline constexpr char kDefaultUserAgentHeader[] = "User-Agent: sonde-prober/0.1";

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_HTTP_USER_AGENT_H_
