#include "common/checks/spec_rules.h"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/net.h"
#include "common/user_regex.h"

namespace sonde::checks {
namespace {

bool ValidHost(const std::string& h) {
  if (h.empty() || h.size() > 253) {
    return false;
  }
  for (char c : h) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@') {
      return false;
    }
  }
  return true;
}

}  // namespace

bool CheckRequired(const std::string& field, const std::string& value, SpecErrors* errors,
                   const std::string& hint) {
  if (!value.empty()) {
    return true;
  }
  errors->Add(field, hint.empty() ? "is required" : absl::StrCat("is required (", hint, ")"));
  return false;
}

void CheckHost(const std::string& field, const std::string& host, SpecErrors* errors) {
  if (CheckRequired(field, host, errors) && !ValidHost(host)) {
    errors->Add(field, absl::StrCat("\"", host, "\" is not a host name or address"));
  }
}

void CheckPort(const std::string& field, int64_t port, bool required, SpecErrors* errors) {
  if ((required || port != 0) && (port < 1 || port > 65535)) {
    errors->Add(field, "must be 1..65535");
  }
}

void CheckRegex(const std::string& field, const std::string& pattern, SpecErrors* errors) {
  if (pattern.empty()) {
    return;
  }
  // The probe compiles the same way (common/user_regex.h): what passes here runs there.
  auto re = common::UserRegex::Compile(pattern);
  if (!re.ok()) {
    errors->Add(field, std::string(re.status().message()));
  }
}

void CheckResolvers(const std::string& field,
                    const google::protobuf::RepeatedPtrField<std::string>& resolvers,
                    SpecErrors* errors) {
  for (int i = 0; i < resolvers.size(); ++i) {
    auto ep = common::ParseHostPort(resolvers[i], 53);
    if (!ep.ok() || !common::IsIpLiteral(ep->host)) {
      errors->Add(
          absl::StrCat(field, "[", i, "]"),
          absl::StrCat("\"", resolvers[i], "\" is not IP[:port], e.g. 127.0.0.1:5353 or [::1]:53"));
    }
  }
}

void CheckCaFile(const std::string& field, const std::string& path, SpecErrors* errors) {
  if (!path.empty() && access(path.c_str(), R_OK) != 0) {
    errors->Add(field, absl::StrCat("cannot read \"", path, "\""));
  }
}

}  // namespace sonde::checks
