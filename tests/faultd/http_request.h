// HTTP/1.x request head parsing for faultd, by hand and with caps: the head
// (request line + headers) is limited in bytes and header count, the body
// (Content-Length only; chunked request bodies are refused with 501) in
// bytes. Bare LF line ends are accepted, obs-fold and malformed lines are
// 400. Pure functions; any thread.
#ifndef SONDE_TESTS_FAULTD_HTTP_REQUEST_H_
#define SONDE_TESTS_FAULTD_HTTP_REQUEST_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace sonde::faultd {

struct HttpLimits {
  size_t max_head_bytes = 16 * 1024;
  size_t max_headers = 100;
  size_t max_body_bytes = 1024 * 1024;
};

struct HttpRequest {
  std::string method;
  std::string target;  // as sent
  std::string path;    // target without query/fragment; for absolute-form, its path
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;
  size_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
  std::string body;

  // First header named `name` (case-insensitive), or null.
  const std::string* Header(absl::string_view name) const;
};

struct HeadParse {
  enum class State { kIncomplete, kComplete, kError };
  State state = State::kIncomplete;
  HttpRequest request;    // kComplete: everything but the body
  size_t head_bytes = 0;  // kComplete: bytes of `buffer` the head used
  int error_status = 0;   // kError: 400, 413, 431, 501 or 505
  std::string error;      // kError: why, for the response body
};

// Parses the request head at the start of `buffer`. `*scanned` remembers how
// far the search for the blank line got between calls on a growing buffer
// (start it at 0; reset it after consuming a request), so a client sending
// one byte at a time costs linear time.
HeadParse ParseRequestHead(absl::string_view buffer, const HttpLimits& limits, size_t* scanned);

// "200" -> "OK", ...; "Unknown" for codes it does not know.
absl::string_view ReasonPhrase(int status);

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_HTTP_REQUEST_H_
