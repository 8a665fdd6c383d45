// Small parsers for the network values found in configs and flags: URLs,
// host:port pairs, IP literals, HTTP status ranges. Pure functions.
#ifndef SONDE_COMMON_NET_H_
#define SONDE_COMMON_NET_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sonde::common {

struct HostPort {
  std::string host;  // without brackets for IPv6
  int port = 0;
};

// "host:port", "host" (default_port), "[::1]:53", "::1" (bare IPv6).
absl::StatusOr<HostPort> ParseHostPort(const std::string& text, int default_port);
// "host:port" with brackets around IPv6 literals.
std::string FormatHostPort(const std::string& host, int port);
// The same, appended to `*out` (no string of its own).
void AppendHostPort(std::string* out, absl::string_view host, int port);
bool IsIpLiteral(const std::string& host);

struct Url {
  std::string scheme;  // lower case
  std::string host;    // without brackets
  int port = 0;        // explicit or the scheme's default
  std::string path;    // path and query, at least "/"
};
// Refuses credentials in the authority ("user:pass@host") without
// repeating the URL in the error, so a secret never reaches a log.
absl::StatusOr<Url> ParseUrl(const std::string& text);
// True when `url`'s authority holds userinfo ("scheme://user:pass@host").
bool UrlHasUserinfo(absl::string_view url);

struct StatusRange {
  int lo = 0;
  int hi = 0;
};
// "200" or "200-399", codes 100..599.
absl::StatusOr<StatusRange> ParseStatusRange(const std::string& text);

}  // namespace sonde::common

#endif  // SONDE_COMMON_NET_H_
