// Prometheus text exposition: a small builder for the /metrics page and an
// HTTP server (cpp-httplib, its own threads) that serves whatever a callback
// returns. The callback runs on the server's threads: it must only read
// thread-safe state (atomics, or stats snapshots taken under a lock).
#ifndef SONDE_COMMON_METRICS_H_
#define SONDE_COMMON_METRICS_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace sonde::common {

class MetricsText {
 public:
  // One metric family; `type` is counter or gauge. `labels` like `region="fra"`.
  void Add(const std::string& name, const std::string& type, const std::string& help, double value,
           const std::string& labels = "");
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Binds `server` to `listen` (HOST:PORT; port 0 picks a free one) and
// returns the port. UNAVAILABLE when it cannot bind, INVALID_ARGUMENT for a
// malformed address. The caller then runs server->listen_after_bind().
absl::StatusOr<int> BindHttpServer(httplib::Server* server, const std::string& listen);

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  MetricsServer();
  ~MetricsServer();
  // Serves GET /metrics on `listen` (HOST:PORT). Returns once bound.
  absl::Status Start(const std::string& listen, Render render);
  void Stop();
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_METRICS_H_
