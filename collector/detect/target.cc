#include "collector/detect/target.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace sonde::detect {
namespace {

std::string NormalizeHost(absl::string_view host) {
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  absl::ConsumeSuffix(&host, ".");
  return absl::AsciiStrToLower(host);
}

// scheme://[userinfo@]host[:port][/...]; tolerant: a URL the config
// validator accepted is well formed.
void ParseUrl(absl::string_view url, CheckTarget* out) {
  std::string scheme = "http";
  size_t sep = url.find("://");
  if (sep != absl::string_view::npos) {
    scheme = absl::AsciiStrToLower(url.substr(0, sep));
    url.remove_prefix(sep + 3);
  }
  absl::string_view authority = url.substr(0, url.find_first_of("/?#"));
  size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) authority.remove_prefix(at + 1);
  absl::string_view host = authority;
  int port = scheme == "https" ? 443 : 80;
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != absl::string_view::npos && (bracket == absl::string_view::npos || colon > bracket)) {
    host = authority.substr(0, colon);
    int p = 0;
    if (absl::SimpleAtoi(authority.substr(colon + 1), &p)) port = p;
  }
  out->host = NormalizeHost(host);
  out->protocol = scheme;
  out->port = port;
}

}  // namespace

std::string TcpProtocolName(int port) {
  switch (port) {
    case 21:
      return "ftp";
    case 22:
      return "ssh";
    case 23:
      return "telnet";
    case 25:
    case 587:
      return "smtp";
    case 110:
      return "pop3";
    case 143:
      return "imap";
    case 465:
      return "smtps";
    case 993:
      return "imaps";
    case 995:
      return "pop3s";
    case 3306:
      return "mysql";
    case 5432:
      return "postgresql";
    case 6379:
      return "redis";
    default:
      return absl::StrCat("tcp/", port);
  }
}

CheckTarget DeriveTarget(const v1::Check& check) {
  CheckTarget t;
  switch (check.spec_case()) {
    case v1::Check::kHttp:
      ParseUrl(check.http().url(), &t);
      t.resolvers.assign(check.http().resolvers().begin(), check.http().resolvers().end());
      break;
    case v1::Check::kTls:
      t.host = NormalizeHost(check.tls().host());
      t.port = check.tls().port() > 0 ? check.tls().port() : 443;
      t.protocol = "tls";
      t.resolvers.assign(check.tls().resolvers().begin(), check.tls().resolvers().end());
      break;
    case v1::Check::kTcp:
      t.host = NormalizeHost(check.tcp().host());
      t.port = check.tcp().port();
      t.protocol = TcpProtocolName(t.port);
      t.resolvers.assign(check.tcp().resolvers().begin(), check.tcp().resolvers().end());
      break;
    case v1::Check::kDns:
      t.host = NormalizeHost(check.dns().name());
      t.port = 53;
      t.protocol = "dns";
      t.resolvers.assign(check.dns().resolvers().begin(), check.dns().resolvers().end());
      break;
    default:
      break;
  }
  return t;
}

}  // namespace sonde::detect
