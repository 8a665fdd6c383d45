// HttpServer: one cpp-httplib server serving on its own threads — the
// metrics page and the collector's HTTP API each own one. The owner adds its
// routes (routes()) before Start(); handlers run on httplib's threads.
// Start/Stop from the owner's thread; Stop (also run by the destructor)
// waits for the serving thread.
#ifndef SONDE_COMMON_HTTP_SERVER_H_
#define SONDE_COMMON_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httplib {
class Server;
}

namespace sonde::common {

// Binds `server` to `listen` (HOST:PORT; port 0 picks a free one) and
// returns the port. UNAVAILABLE when it cannot bind, INVALID_ARGUMENT for a
// malformed address. The caller then runs server->listen_after_bind().
absl::StatusOr<int> BindHttpServer(httplib::Server* server, const std::string& listen);

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  httplib::Server& routes() { return *server_; }
  // Binds `listen` and serves on a thread; returns once bound. A bind error
  // reads "<what>: <reason>".
  absl::Status Start(const std::string& listen, absl::string_view what);
  void Stop();
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_HTTP_SERVER_H_
