#include "collector/detect/evidence_text.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sonde/v1/result.pb.h"

namespace sonde::detect {

using FC = v1::FailureClass;

bool IsDnsClass(int c) { return c >= FC::DNS_NXDOMAIN && c <= FC::DNS_UNEXPECTED_ANSWER; }

std::string ClassName(int c) {
  if (!FC::Code_IsValid(c)) {
    return absl::StrCat("CLASS_", c);
  }
  return FC::Code_Name(static_cast<FC::Code>(c));
}

std::string Rcode(int c) {
  std::string name = ClassName(c);
  return absl::StartsWith(name, "DNS_") ? name.substr(4) : name;
}

std::string FallbackText(const std::string& address, int failure_class, int http_status) {
  std::string out = absl::StrCat("server at last known address ", address);
  if (http_status > 0) {
    absl::StrAppend(&out, " answers ", http_status);
  } else if (failure_class == FC::OK) {
    absl::StrAppend(&out, " answers");
  } else {
    absl::StrAppend(&out, " fails too (", ClassName(failure_class), ")");
  }
  return out;
}

std::string Millis(double us) {
  if (us >= 1e6) {
    return absl::StrFormat("%.2fs", us / 1e6);
  }
  return absl::StrFormat("%.0fms", us / 1e3);
}

}  // namespace sonde::detect
