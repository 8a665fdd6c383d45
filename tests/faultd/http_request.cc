// HTTP/1.x request-head parser (see http_request.h). Pure functions.
#include "tests/faultd/http_request.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sonde::faultd {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(c) || absl::StrContains("!#$%&'*+-.^_`|~", c);
}

bool IsToken(absl::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!IsTokenChar(c)) {
      return false;
    }
  }
  return true;
}

HeadParse Error(int status, std::string why) {
  HeadParse p;
  p.state = HeadParse::State::kError;
  p.error_status = status;
  p.error = std::move(why);
  return p;
}

std::string PathOf(absl::string_view target) {
  if (absl::StartsWithIgnoreCase(target, "http://") ||
      absl::StartsWithIgnoreCase(target, "https://")) {
    size_t auth = target.find("//") + 2;
    size_t slash = target.find('/', auth);
    target = slash == absl::string_view::npos ? "/" : target.substr(slash);
  }
  size_t end = target.find_first_of("?#");
  return std::string(target.substr(0, end));
}

}  // namespace

const std::string* HttpRequest::Header(absl::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(n, name)) {
      return &v;
    }
  }
  return nullptr;
}

HeadParse ParseRequestHead(absl::string_view buffer, const HttpLimits& limits, size_t* scanned) {
  // RFC 9112 2.2: ignore empty lines before the request line.
  size_t start = 0;
  while (start < buffer.size() && (buffer[start] == '\r' || buffer[start] == '\n') && start < 8) {
    ++start;
  }
  size_t from = std::max(*scanned, start);
  size_t end = absl::string_view::npos;  // index just past the blank line
  for (size_t i = from; i < buffer.size(); ++i) {
    if (buffer[i] != '\n') {
      continue;
    }
    if (i + 1 < buffer.size() && buffer[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (i + 2 < buffer.size() && buffer[i + 1] == '\r' && buffer[i + 2] == '\n') {
      end = i + 3;
      break;
    }
  }
  if (end == absl::string_view::npos) {
    // Leave room to re-check a blank line split across reads.
    *scanned = buffer.size() > 2 ? buffer.size() - 2 : 0;
    if (buffer.size() > limits.max_head_bytes) {
      return Error(431, "request head too large");
    }
    return HeadParse();
  }
  if (end > limits.max_head_bytes) {
    return Error(431, "request head too large");
  }

  absl::string_view head = buffer.substr(start, end - start);
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  HeadParse out;
  HttpRequest& req = out.request;
  bool first = true;
  bool saw_length = false;
  for (absl::string_view line : lines) {
    absl::ConsumeSuffix(&line, "\r");
    if (line.empty()) {
      continue;  // the final blank line(s)
    }
    if (absl::StrContains(line, '\r') || absl::StrContains(line, '\0')) {
      return Error(400, "stray CR or NUL in request head");
    }
    if (first) {
      first = false;
      std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
      if (parts.size() != 3) {
        return Error(400, "malformed request line");
      }
      if (!IsToken(parts[0])) {
        return Error(400, "malformed method");
      }
      if (parts[1].empty()) {
        return Error(400, "empty request target");
      }
      for (char c : parts[1]) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
          return Error(400, "control character in request target");
        }
      }
      if (parts[2] == "HTTP/1.1") {
        req.minor_version = 1;
      } else if (parts[2] == "HTTP/1.0") {
        req.minor_version = 0;
      } else if (absl::StartsWith(parts[2], "HTTP/")) {
        return Error(505, "only HTTP/1.0 and HTTP/1.1 are supported");
      } else {
        return Error(400, "malformed HTTP version");
      }
      req.method = std::string(parts[0]);
      req.target = std::string(parts[1]);
      req.path = PathOf(req.target);
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      return Error(400, "obsolete line folding");
    }
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Error(400, "malformed header line");
    }
    if (req.headers.size() >= limits.max_headers) {
      return Error(431, "too many headers");
    }
    absl::string_view value = line.substr(colon + 1);
    value = absl::StripAsciiWhitespace(value);
    req.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  if (first) {
    return Error(400, "no request line");
  }

  req.keep_alive = req.minor_version >= 1;
  bool saw_close = false;
  for (const auto& [name, value] : req.headers) {
    if (absl::EqualsIgnoreCase(name, "content-length")) {
      size_t n = 0;
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(value, &n)) {
        return Error(400, "bad Content-Length");
      }
      if (saw_length && n != req.content_length) {
        return Error(400, "conflicting Content-Length");
      }
      saw_length = true;
      req.content_length = n;
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      return Error(501, "request bodies with Transfer-Encoding are not supported");
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      for (absl::string_view tok : absl::StrSplit(value, ',')) {
        tok = absl::StripAsciiWhitespace(tok);
        if (absl::EqualsIgnoreCase(tok, "close")) {
          saw_close = true;
        }
        if (absl::EqualsIgnoreCase(tok, "keep-alive")) {
          req.keep_alive = true;
        }
      }
    } else if (absl::EqualsIgnoreCase(name, "expect")) {
      if (!absl::EqualsIgnoreCase(value, "100-continue")) {
        return Error(417, "only Expect: 100-continue is supported");
      }
      req.expect_continue = true;
    }
  }
  if (saw_close) {
    req.keep_alive = false;  // "close" wins over keep-alive
  }
  if (req.content_length > limits.max_body_bytes) {
    return Error(413, "request body too large");
  }
  out.state = HeadParse::State::kComplete;
  out.head_bytes = end;
  return out;
}

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 417:
      return "Expectation Failed";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace sonde::faultd
