#include "common/net.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sonde::common {

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

absl::StatusOr<HostPort> ParseHostPort(const std::string& text, int default_port) {
  HostPort out;
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": missing ']'"));
    }
    out.host = text.substr(1, close - 1);
    std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": junk after ']'"));
      }
      port_text = rest.substr(1);
    }
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    out.host = text;  // bare IPv6 literal
  } else if (size_t colon = text.find(':'); colon != std::string::npos) {
    out.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  } else {
    out.host = text;
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": empty host"));
  }
  out.port = default_port;
  if (!port_text.empty() || text.back() == ':') {
    if (!absl::SimpleAtoi(port_text, &out.port) || out.port < 1 || out.port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": port must be 1..65535"));
    }
  }
  return out;
}

std::string FormatHostPort(const std::string& host, int port) {
  std::string out;
  AppendHostPort(&out, host, port);
  return out;
}

void AppendHostPort(std::string* out, absl::string_view host, int port) {
  const bool v6 = host.find(':') != absl::string_view::npos;
  // Written in place, once grown to the longest it can be, then trimmed:
  // one resize instead of an append per piece (a probe's detail per run).
  const size_t at = out->size();
  out->resize(at + host.size() + 3 + absl::numbers_internal::kFastToBufferSize);
  char* p = out->data() + at;
  if (v6) {
    *p++ = '[';
  }
  p = std::copy(host.begin(), host.end(), p);
  if (v6) {
    *p++ = ']';
  }
  *p++ = ':';
  p = absl::numbers_internal::FastIntToBuffer(port, p);  // ends at its NUL
  out->resize(static_cast<size_t>(p - out->data()));
}

bool UrlHasUserinfo(absl::string_view url) {
  const size_t sep = url.find("://");
  if (sep == absl::string_view::npos) {
    return false;
  }
  absl::string_view rest = url.substr(sep + 3);
  return rest.substr(0, rest.find_first_of("/?#")).find('@') != absl::string_view::npos;
}

absl::StatusOr<Url> ParseUrl(const std::string& text) {
  size_t sep = text.find("://");
  if (sep == std::string::npos || sep == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a URL (expected scheme://host/path)"));
  }
  Url url;
  url.scheme = absl::AsciiStrToLower(text.substr(0, sep));
  std::string rest = text.substr(sep + 3);
  size_t path_at = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, path_at);
  url.path = path_at == std::string::npos ? "/" : rest.substr(path_at);
  if (!url.path.empty() && url.path[0] != '/') {
    url.path = "/" + url.path;
  }
  if (size_t hash = url.path.find('#'); hash != std::string::npos) {
    url.path.resize(hash);
  }
  if (UrlHasUserinfo(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat(url.scheme, " URL with credentials (not repeated here): not supported"));
  }
  int default_port = 0;
  if (url.scheme == "http") {
    default_port = 80;
  }
  if (url.scheme == "https") {
    default_port = 443;
  }
  if (url.scheme == "smtp") {
    default_port = 25;
  }
  if (url.scheme == "smtps") {
    default_port = 465;
  }
  if (default_port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": unsupported scheme \"", url.scheme, "\""));
  }
  auto hp = ParseHostPort(authority, default_port);
  if (!hp.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": ", hp.status().message()));
  }
  url.host = hp->host;
  url.port = hp->port;
  return url;
}

absl::StatusOr<StatusRange> ParseStatusRange(const std::string& text) {
  StatusRange r;
  std::vector<std::string> parts = absl::StrSplit(text, '-');
  bool ok = parts.size() <= 2 && absl::SimpleAtoi(parts[0], &r.lo);
  r.hi = r.lo;
  if (ok && parts.size() == 2) {
    ok = absl::SimpleAtoi(parts[1], &r.hi);
  }
  if (!ok || r.lo < 100 || r.hi > 599 || r.lo > r.hi) {
    return absl::InvalidArgumentError(absl::StrCat("bad status \"", text, "\""));
  }
  return r;
}

}  // namespace sonde::common
