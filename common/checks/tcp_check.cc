#include "common/checks/tcp_check.h"

#include "absl/strings/str_cat.h"
#include "common/checks/spec_rules.h"

namespace sonde::checks {
namespace {

constexpr uint32_t kMaxBannerBytes = 64 << 10;

void Validate(const v1::Check& check, SpecErrors* errors) {
  const v1::TcpSpec& t = check.tcp();
  CheckEndpoint(t, /*port_required=*/true, errors);
  CheckRegex("expect_banner", t.expect_banner(), errors);
  // The banner is kept in memory and searched as it grows: bounded.
  if (t.max_banner_bytes() > kMaxBannerBytes) {
    errors->Add("max_banner_bytes", absl::StrCat("must be at most ", kMaxBannerBytes));
  }
}

void ApplyDefaults(v1::Check* check) {
  if (check->tcp().max_banner_bytes() == 0) {
    check->mutable_tcp()->set_max_banner_bytes(4096);
  }
}

}  // namespace

const CheckType kTcpCheck = {v1::Check::kTcp, "tcp", Validate, ApplyDefaults,
                             EndpointTarget<&v1::Check::tcp>};

}  // namespace sonde::checks
