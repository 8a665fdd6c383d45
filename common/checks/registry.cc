#include "common/checks/registry.h"

#include "common/checks/dns_check.h"
#include "common/checks/grpc_check.h"
#include "common/checks/http_check.h"
#include "common/checks/icmp_check.h"
#include "common/checks/tcp_check.h"
#include "common/checks/tls_check.h"

namespace sonde::checks {

const std::vector<const CheckType*>& AllCheckTypes() {
  static const auto* const kTypes = new std::vector<const CheckType*>{
      &kHttpCheck, &kTlsCheck, &kTcpCheck, &kDnsCheck, &kIcmpCheck, &kGrpcCheck,
  };
  return *kTypes;
}

const CheckType* FindCheckType(const v1::Check& check) {
  for (const CheckType* type : AllCheckTypes()) {
    if (type->spec_case == check.spec_case()) {
      return type;
    }
  }
  return nullptr;
}

std::string KindOf(const v1::Check& check) {
  const CheckType* type = FindCheckType(check);
  return type == nullptr ? "" : type->kind;
}

std::string TargetOf(const v1::Check& check) {
  const CheckType* type = FindCheckType(check);
  return type == nullptr ? "" : type->target(check);
}

}  // namespace sonde::checks
