#include "common/checks/grpc_check.h"

#include "common/checks/spec_rules.h"
#include "common/net.h"

namespace sonde::checks {
namespace {

void Validate(const v1::Check& check, SpecErrors* errors) {
  const v1::GrpcSpec& g = check.grpc();
  if (CheckRequired("target", g.target(), errors, "host:port")) {
    auto hp = common::ParseHostPort(g.target(), 0);
    if (!hp.ok()) {
      errors->Add("target", std::string(hp.status().message()));
    } else {
      CheckHost("target", hp->host, errors);
      CheckPort("target", hp->port, /*required=*/true, errors);
    }
  }
  if (!g.tls() && !g.ca_file().empty()) {
    errors->Add("ca_file", "needs tls: true");
  }
  if (!g.tls() && !g.server_name().empty()) {
    errors->Add("server_name", "needs tls: true");
  }
  CheckCaFile("ca_file", g.ca_file(), errors);
}

// Every field's default is its zero value (tls false, service "" = the
// server as a whole).
void ApplyDefaults(v1::Check*) {}

std::string Target(const v1::Check& check) { return check.grpc().target(); }

}  // namespace

const CheckType kGrpcCheck = {v1::Check::kGrpc, "grpc", Validate, ApplyDefaults, Target};

}  // namespace sonde::checks
