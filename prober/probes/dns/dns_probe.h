// DnsProbe: asks each configured resolver (or the system's) for one record
// type and reports, per resolver, the rcode, the answers with TTLs and the
// round trip; the check fails when any resolver's answer is not what the
// check expects. NXDOMAIN (name does not exist) and NODATA (name exists, no
// record of the type) are told apart. c-ares retries over TCP when a UDP
// answer is truncated. Loop thread only.
#ifndef SONDE_PROBER_PROBES_DNS_DNS_PROBE_H_
#define SONDE_PROBER_PROBES_DNS_DNS_PROBE_H_

#include <memory>

#include "prober/io/dns_resolver.h"
#include "prober/probes/probe.h"

namespace sonde::prober {

// Judges one resolver's raw answer against the spec (exposed for tests).
v1::DnsResolverResult JudgeDnsAnswer(const v1::DnsSpec& spec, const std::string& resolver,
                                     const DnsResolver::RawAnswer& answer);
// The same into `*out` (cleared first, its memory reused): the probe's path.
void JudgeDnsAnswer(const v1::DnsSpec& spec, const std::string& resolver,
                    const DnsResolver::RawAnswer& answer, v1::DnsResolverResult* out);

// A probe that runs `check` (whose spec is dns) on the loop thread of `env`.
std::unique_ptr<Probe> NewDnsProbe(const v1::Check& check, ProbeEnv* env);

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_DNS_DNS_PROBE_H_
