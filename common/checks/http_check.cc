#include "common/checks/http_check.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/checks/spec_rules.h"
#include "common/net.h"

namespace sonde::checks {
namespace {

void Validate(const v1::Check& check, SpecErrors* errors) {
  const v1::HttpSpec& h = check.http();
  if (CheckRequired("url", h.url(), errors)) {
    if (auto url = common::ParseUrl(h.url()); !url.ok()) {
      errors->Add("url", std::string(url.status().message()));
    }
  }
  static const auto* const kMethods =
      new std::set<std::string>{"", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
  if (kMethods->count(h.method()) == 0) {
    errors->Add("method", absl::StrCat("\"", h.method(), "\" is not an HTTP method"));
  }
  for (int i = 0; i < h.expect_status_size(); ++i) {
    if (!common::ParseStatusRange(h.expect_status(i)).ok()) {
      errors->Add(
          absl::StrCat("expect_status[", i, "]"),
          absl::StrCat("\"", h.expect_status(i), "\" is not a status (200) or range (200-399)"));
    }
  }
  CheckRegex("expect_body", h.expect_body(), errors);
  for (const auto& [name, re] : h.expect_header()) {
    CheckRegex(absl::StrCat("expect_header.", name), re, errors);
  }
  if (h.requests_per_run() > 100) {
    errors->Add("requests_per_run", "must be 0..100");
  }
  if (h.max_redirects() > 50) {
    errors->Add("max_redirects", "must be 0..50");
  }
  CheckResolvers("resolvers", h.resolvers(), errors);
  CheckCaFile("ca_file", h.ca_file(), errors);
}

void ApplyDefaults(v1::Check* check) {
  v1::HttpSpec* h = check->mutable_http();
  if (h->method().empty()) {
    h->set_method("GET");
  }
  if (h->requests_per_run() == 0) {
    h->set_requests_per_run(1);
  }
  if (h->max_redirects() == 0) {
    h->set_max_redirects(10);
  }
  if (h->max_body_bytes() == 0) {
    h->set_max_body_bytes(1 << 20);
  }
}

std::string Target(const v1::Check& check) { return check.http().url(); }

}  // namespace

const CheckType kHttpCheck = {v1::Check::kHttp, "http", Validate, ApplyDefaults, Target};

}  // namespace sonde::checks
