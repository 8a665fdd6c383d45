// Plain clients for faultd's unit tests: HTTP over a blocking socket (or
// OpenSSL), hand-made DNS queries over UDP/TCP, TLS handshakes that report
// the verification result. Each binds to a chosen loopback source address so
// tests can play several "regions". Every call is bounded by a timeout.
// Test thread only.
#ifndef SONDE_TESTS_UNIT_FAULTD_TEST_CLIENTS_H_
#define SONDE_TESTS_UNIT_FAULTD_TEST_CLIENTS_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "common/tls/openssl_handles.h"
#include "tests/faultd/dns_message.h"
#include "tests/faultd/sockets.h"

namespace sonde::faultd::testing {

inline constexpr std::chrono::milliseconds kClientTimeout(5000);

// A blocking TCP socket bound to `source` (an IP literal, "" = any) and
// connected to `to`, with send/receive timeouts of `timeout`.
absl::StatusOr<UniqueFd> ConnectFrom(const std::string& source, const SocketAddress& to,
                                     std::chrono::milliseconds timeout = kClientTimeout);

// How a read until EOF ended.
enum class ReadEnd { kEof, kReset, kTimeout, kError };

struct ReadResult {
  std::string data;
  ReadEnd end = ReadEnd::kEof;
  double first_byte_seconds = -1;  // since the call; -1 when nothing came
  double seconds = 0;              // until the end
};

// Reads until EOF, an error, `max_bytes` or the socket's receive timeout.
ReadResult ReadAll(int fd, size_t max_bytes = 16 * 1024 * 1024);
bool SendAll(int fd, const std::string& data);

struct HttpResult {
  int status = 0;  // 0: no status line
  std::string head;
  std::string body;  // raw (chunked framing not removed)
  ReadEnd end = ReadEnd::kEof;
  double first_byte_seconds = -1;
  double seconds = 0;
};

// Sends `request` (a whole request, or several) and reads to EOF.
HttpResult HttpExchange(int fd, const std::string& request);
// GET `path` with Connection: close from `source`.
HttpResult HttpGet(const SocketAddress& server, const std::string& path,
                   const std::string& source = "127.0.0.1", const std::string& extra_headers = "");
// A whole request: method, path, body (Content-Length set), Connection: close.
HttpResult HttpRequestTo(const SocketAddress& server, const std::string& method,
                         const std::string& path, const std::string& body,
                         const std::string& source = "127.0.0.1");

struct TlsResult {
  bool handshake_ok = false;
  long verify_result = -1;  // X509_V_OK, X509_V_ERR_CERT_HAS_EXPIRED, ...
  int version = 0;          // TLS1_2_VERSION, ...
  std::string error;
  common::UniqueX509 peer_cert;
  std::string http_response;  // when a request was given
};

struct TlsClientOptions {
  std::string source = "127.0.0.1";
  std::string sni;  // "" = none
  std::string verify_host = "localhost";
  std::string ca_pem;  // trust anchor; "" = none
  int min_version = 0;
  int max_version = 0;
  std::string http_request;  // sent after the handshake when not empty
};

// Handshakes with verification results recorded but not enforced, so the
// verify result of any certificate can be inspected.
TlsResult TlsConnect(const SocketAddress& server, const TlsClientOptions& options);

// One DNS query. Over UDP, waits `timeout` for the answer (DeadlineExceeded
// when none came); over TCP, uses the length prefix.
absl::StatusOr<dns::Message> DnsQuery(const SocketAddress& server, const std::string& name,
                                      uint16_t type, bool over_tcp,
                                      const std::string& source = "127.0.0.1",
                                      std::chrono::milliseconds timeout = kClientTimeout,
                                      bool edns = false);
// Sends raw bytes as one UDP datagram and returns the raw reply, if any.
absl::StatusOr<std::string> DnsRawUdp(const SocketAddress& server, const std::string& payload,
                                      std::chrono::milliseconds timeout);

}  // namespace sonde::faultd::testing

#endif  // SONDE_TESTS_UNIT_FAULTD_TEST_CLIENTS_H_
