#include "prober/probes/registry.h"

#include "prober/probes/dns/dns_probe.h"
#include "prober/probes/grpc/grpc_health_probe.h"
#include "prober/probes/http/http_probe.h"
#include "prober/probes/icmp/icmp_probe.h"
#include "prober/probes/tcp/tcp_probe.h"
#include "prober/probes/tls/tls_probe.h"

namespace sonde::prober {

std::unique_ptr<Probe> MakeProbe(const v1::Check& check, ProbeEnv* env) {
  switch (check.spec_case()) {
    case v1::Check::kHttp:
      return std::make_unique<HttpProbe>(check, env);
    case v1::Check::kTls:
      return std::make_unique<TlsProbe>(check, env);
    case v1::Check::kTcp:
      return std::make_unique<TcpProbe>(check, env);
    case v1::Check::kDns:
      return std::make_unique<DnsProbe>(check, env);
    case v1::Check::kIcmp:
      return std::make_unique<IcmpProbe>(check, env);
    case v1::Check::kGrpc:
      return std::make_unique<GrpcHealthProbe>(check, env);
    default:
      return nullptr;
  }
}

}  // namespace sonde::prober
