#include "common/checks/tcp_check.h"

#include "common/checks/spec_rules.h"

namespace sonde::checks {
namespace {

void Validate(const v1::Check& check, SpecErrors* errors) {
  const v1::TcpSpec& t = check.tcp();
  CheckEndpoint(t, /*port_required=*/true, errors);
  CheckRegex("expect_banner", t.expect_banner(), errors);
}

void ApplyDefaults(v1::Check* check) {
  if (check->tcp().max_banner_bytes() == 0) {
    check->mutable_tcp()->set_max_banner_bytes(4096);
  }
}

std::string Target(const v1::Check& check) { return EndpointTarget(check.tcp()); }

}  // namespace

const CheckType kTcpCheck = {v1::Check::kTcp, "tcp", Validate, ApplyDefaults, Target};

}  // namespace sonde::checks
