#include "prober/probes/registry.h"

#include "prober/probes/dns/dns_probe.h"
#include "prober/probes/grpc/grpc_health_probe.h"
#include "prober/probes/http/http_probe.h"
#include "prober/probes/icmp/icmp_probe.h"
#include "prober/probes/tcp/tcp_probe.h"
#include "prober/probes/tls/tls_probe.h"

namespace sonde::prober {

namespace {

template <typename P>
std::unique_ptr<Probe> Make(const v1::Check& check, ProbeEnv* env) {
  return std::make_unique<P>(check, env);
}

struct ProbeType {
  v1::Check::SpecCase spec_case;
  std::unique_ptr<Probe> (*make)(const v1::Check& check, ProbeEnv* env);
};

// Every runtime probe type, by the oneof member of v1::Check that selects it.
constexpr ProbeType kProbeTypes[] = {
    {v1::Check::kHttp, Make<HttpProbe>}, {v1::Check::kTls, Make<TlsProbe>},
    {v1::Check::kTcp, Make<TcpProbe>},   {v1::Check::kDns, NewDnsProbe},
    {v1::Check::kIcmp, Make<IcmpProbe>}, {v1::Check::kGrpc, NewGrpcHealthProbe},
};

}  // namespace

std::unique_ptr<Probe> MakeProbe(const v1::Check& check, ProbeEnv* env) {
  for (const ProbeType& type : kProbeTypes) {
    if (type.spec_case == check.spec_case()) {
      return type.make(check, env);
    }
  }
  return nullptr;
}

}  // namespace sonde::prober
