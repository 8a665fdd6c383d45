#include "common/checks/dns_check.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/checks/spec_rules.h"

namespace sonde::checks {
namespace {

void Validate(const v1::Check& check, SpecErrors* errors) {
  const v1::DnsSpec& d = check.dns();
  CheckRequired("name", d.name(), errors);
  static const auto* const kTypes =
      new std::set<std::string>{"", "A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA"};
  if (kTypes->count(d.type()) == 0) {
    errors->Add("type", "must be one of A, AAAA, CNAME, MX, TXT, NS, SOA");
  }
  static const auto* const kRcodes =
      new std::set<std::string>{"", "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"};
  if (kRcodes->count(d.expect_rcode()) == 0) {
    errors->Add("expect_rcode", "must be NOERROR, NXDOMAIN, SERVFAIL or REFUSED");
  }
  if (!d.answers_match().empty() && d.answers_match() != "exact" &&
      d.answers_match() != "contains") {
    errors->Add("answers_match", "must be \"exact\" or \"contains\"");
  }
  CheckResolvers("resolvers", d.resolvers(), errors);
}

void ApplyDefaults(v1::Check* check) {
  v1::DnsSpec* d = check->mutable_dns();
  if (d->type().empty()) {
    d->set_type("A");
  }
  if (d->expect_rcode().empty()) {
    d->set_expect_rcode("NOERROR");
  }
  if (d->answers_match().empty()) {
    d->set_answers_match("exact");
  }
}

// "example.com A"; the type reads "A" before defaults are applied too.
std::string Target(const v1::Check& check) {
  const v1::DnsSpec& d = check.dns();
  return absl::StrCat(d.name(), " ", d.type().empty() ? "A" : d.type());
}

}  // namespace

const CheckType kDnsCheck = {v1::Check::kDns, "dns", Validate, ApplyDefaults, Target};

}  // namespace sonde::checks
