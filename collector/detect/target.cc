#include "collector/detect/target.h"

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/code_table.h"
#include "common/net.h"

namespace sonde::detect {
namespace {

std::string NormalizeHost(absl::string_view host) {
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  absl::ConsumeSuffix(&host, ".");
  return absl::AsciiStrToLower(host);
}

}  // namespace

std::string TcpProtocolName(int port) {
  // Well-known ports and the protocol incidents name for them.
  static constexpr common::CodeName kPorts[] = {
      {21, "ftp"},     {22, "ssh"},          {23, "telnet"}, {25, "smtp"},   {587, "smtp"},
      {110, "pop3"},   {143, "imap"},        {465, "smtps"}, {993, "imaps"}, {995, "pop3s"},
      {3306, "mysql"}, {5432, "postgresql"}, {6379, "redis"}};
  const char* name = common::NameOfCode(port, kPorts);
  return name != nullptr ? name : absl::StrCat("tcp/", port);
}

CheckTarget DeriveTarget(const v1::Check& check) {
  CheckTarget t;
  switch (check.spec_case()) {
    case v1::Check::kHttp:
      // The config validator accepted the URL; one it refuses (tests that
      // skip validation) leaves the target unknown.
      if (absl::StatusOr<common::Url> url = common::ParseUrl(check.http().url()); url.ok()) {
        t.host = NormalizeHost(url->host);
        t.protocol = url->scheme;
        t.port = url->port;
      }
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
    case v1::Check::kIcmp:
      t.host = NormalizeHost(check.icmp().host());
      t.protocol = "icmp";
      t.resolvers.assign(check.icmp().resolvers().begin(), check.icmp().resolvers().end());
      break;
    case v1::Check::kGrpc:
      // The config validator accepted "host:port"; an unparsable target
      // leaves the host unknown.
      if (absl::StatusOr<common::HostPort> hp = common::ParseHostPort(check.grpc().target(), 0);
          hp.ok()) {
        t.host = NormalizeHost(hp->host);
        t.port = hp->port;
      }
      t.protocol = "grpc";
      break;
    default:
      break;
  }
  return t;
}

}  // namespace sonde::detect
