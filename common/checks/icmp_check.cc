#include "common/checks/icmp_check.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/checks/spec_rules.h"
#include "common/proto_time.h"

namespace sonde::checks {
namespace {

constexpr uint32_t kDefaultCount = 3;
constexpr uint32_t kMaxCount = 100;
constexpr absl::Duration kDefaultInterval = absl::Milliseconds(200);
constexpr absl::Duration kMinInterval = absl::Milliseconds(10);
constexpr uint32_t kDefaultPayloadBytes = 56;
constexpr uint32_t kMaxPayloadBytes = 65000;

void Validate(const v1::Check& check, SpecErrors* errors) {
  const v1::IcmpSpec& s = check.icmp();
  CheckHost("host", s.host(), errors);
  if (s.count() > kMaxCount) {
    errors->Add("count", absl::StrCat("must be 1..", kMaxCount, " (default ", kDefaultCount, ")"));
  }
  absl::Duration gap = kDefaultInterval;
  if (s.has_interval_between()) {
    gap = common::ToDuration(s.interval_between());
    if (gap < kMinInterval) {
      errors->Add("interval_between",
                  absl::StrCat("must be at least ", absl::FormatDuration(kMinInterval)));
    }
  }
  uint32_t count = s.count() == 0 ? kDefaultCount : s.count();
  if (check.has_timeout() && (count - 1) * gap >= common::ToDuration(check.timeout())) {
    errors->Add("interval_between",
                absl::StrCat(count, " echoes ", absl::FormatDuration(gap),
                             " apart do not fit in the check's timeout (",
                             absl::FormatDuration(common::ToDuration(check.timeout())), ")"));
  }
  if (s.payload_bytes() > kMaxPayloadBytes) {
    errors->Add("payload_bytes", absl::StrCat("must be 0..", kMaxPayloadBytes, " (default ",
                                              kDefaultPayloadBytes, ")"));
  }
  static const auto* const kVersions = new std::set<std::string>{"", "auto", "4", "6"};
  if (kVersions->count(s.ip_version()) == 0) {
    errors->Add("ip_version", "must be auto, 4 or 6");
  }
  CheckResolvers("resolvers", s.resolvers(), errors);
}

void ApplyDefaults(v1::Check* check) {
  v1::IcmpSpec* s = check->mutable_icmp();
  if (s->count() == 0) {
    s->set_count(kDefaultCount);
  }
  if (!s->has_interval_between()) {
    common::SetDuration(kDefaultInterval, s->mutable_interval_between());
  }
  if (s->payload_bytes() == 0) {
    s->set_payload_bytes(kDefaultPayloadBytes);
  }
  if (s->ip_version().empty()) {
    s->set_ip_version("auto");
  }
}

std::string Target(const v1::Check& check) { return check.icmp().host(); }

}  // namespace

const CheckType kIcmpCheck = {v1::Check::kIcmp, "icmp", Validate, ApplyDefaults, Target};

}  // namespace sonde::checks
