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

class DnsProbe : public Probe {
 public:
  DnsProbe(const v1::Check& check, ProbeEnv* env);
  ~DnsProbe() override;
  void Run(common::EventLoop::MonoTime deadline, Done done) override;
  void Abort() override;

 private:
  struct RunState;
  void Finish(std::shared_ptr<RunState> run);

  v1::Check check_;
  ProbeEnv* env_;
  std::shared_ptr<RunState> active_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_DNS_DNS_PROBE_H_
