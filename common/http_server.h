// HttpServer: one cpp-httplib server serving on its own threads — the
// metrics page and the collector's HTTP API each own one. The owner adds its
// routes (routes()) before Start(); handlers run on the server's threads.
// Start/Stop from the owner's thread; Stop (also run by the destructor)
// waits for the serving threads.
//
// Everything a client controls is bounded (HttpServerLimits): a fixed pool
// of worker threads with a bounded queue of accepted connections (past it a
// connection gets 503 at once and is closed, never queued); request line and
// headers, and the body, each capped in bytes (431 / 413; a body announced
// larger than the cap is refused before a byte of it is read, and an
// unannounced (chunked) one is cut at the cap); silence between bytes, the
// whole request and the whole response each under a deadline (a slow client
// is disconnected, whatever its pace); keep-alive idle time and requests per
// connection capped. cpp-httplib's own connection loop is replaced for this
// (its timeouts are per read, its queue unbounded, its body limit applies
// neither to chunked bodies nor without skipping the announced length).
#ifndef SONDE_COMMON_HTTP_SERVER_H_
#define SONDE_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}

namespace sonde::common {

struct HttpServerLimits {
  size_t max_body_bytes = 64 << 10;                    // 413 past it
  size_t max_header_bytes = 16 << 10;                  // request line + headers; 431 past it
  absl::Duration read_timeout = absl::Seconds(5);      // silence while a request arrives
  absl::Duration request_timeout = absl::Seconds(10);  // the whole request, from its first byte
  absl::Duration write_timeout = absl::Seconds(10);    // the whole response
  absl::Duration keep_alive = absl::Seconds(5);        // idle between requests
  int requests_per_connection = 100;
  int threads = 8;              // connections served at once
  int queued_connections = 32;  // accepted, waiting for a thread; past it 503
};

// Counters of what the limits refused, for /metrics. Thread-safe.
struct HttpServerStats {
  std::atomic<int64_t> connections_refused{0};  // queue full: 503
  std::atomic<int64_t> requests_too_large{0};   // 413 or 431
  std::atomic<int64_t> connections_timed_out{0};
};

// Binds `server` to `listen` (HOST:PORT; port 0 picks a free one) and
// returns the port. UNAVAILABLE when it cannot bind, INVALID_ARGUMENT for a
// malformed address. The caller then runs server->listen_after_bind().
absl::StatusOr<int> BindHttpServer(httplib::Server* server, const std::string& listen);

class HttpServer {
 public:
  explicit HttpServer(HttpServerLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  httplib::Server& routes() { return *server_; }
  // Binds `listen` and serves on a thread; returns once bound. A bind error
  // reads "<what>: <reason>".
  absl::Status Start(const std::string& listen, absl::string_view what);
  void Stop();
  int port() const { return port_; }
  const HttpServerStats& stats() const { return *stats_; }

 private:
  std::unique_ptr<HttpServerStats> stats_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_HTTP_SERVER_H_
