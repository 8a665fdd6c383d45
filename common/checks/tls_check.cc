#include "common/checks/tls_check.h"

#include <set>

#include "common/checks/spec_rules.h"

namespace sonde::checks {
namespace {

void Validate(const v1::Check& check, SpecErrors* errors) {
  const v1::TlsSpec& t = check.tls();
  CheckEndpoint(t, /*port_required=*/false, errors);
  static const auto* const kVersions =
      new std::set<std::string>{"", "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"};
  if (kVersions->count(t.min_version()) == 0) {
    errors->Add("min_version", "must be TLS1.0, TLS1.1, TLS1.2 or TLS1.3");
  }
  if (!t.starttls().empty() && t.starttls() != "smtp") {
    errors->Add("starttls", "only \"smtp\" is supported");
  }
  CheckCaFile("ca_file", t.ca_file(), errors);
}

void ApplyDefaults(v1::Check* check) {
  if (check->tls().port() == 0) {
    check->mutable_tls()->set_port(443);
  }
}

}  // namespace

const CheckType kTlsCheck = {v1::Check::kTls, "tls", Validate, ApplyDefaults,
                             EndpointTarget<&v1::Check::tls>};

}  // namespace sonde::checks
