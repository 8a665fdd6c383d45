// Prometheus text exposition: a small builder for the /metrics page and an
// HTTP server (cpp-httplib, its own threads) that serves whatever a callback
// returns. The callback runs on the server's threads: it must only read
// thread-safe state (atomics, or stats snapshots taken under a lock).
#ifndef SONDE_COMMON_METRICS_H_
#define SONDE_COMMON_METRICS_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/http_server.h"

namespace sonde::common {

class MetricsText {
 public:
  // One metric family; `type` is counter or gauge. `labels` like `region="fra"`.
  void Add(const std::string& name, const std::string& type, const std::string& help, double value,
           const std::string& labels = "");
  // One metric family with a sample per label set (none: the family is
  // still described, so a scraper sees it exists).
  void AddSamples(const std::string& name, const std::string& type, const std::string& help,
                  const std::vector<std::pair<std::string, double>>& labelled_values);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  // Decides from a request's Authorization header whether it may read the
  // page: UNAUTHENTICATED answers 401, PERMISSION_DENIED 403.
  using Gate = std::function<absl::Status(const std::string& authorization)>;
  // Requests must pass `gate` (default: everyone may read). Before Start().
  void set_gate(Gate gate) { gate_ = std::move(gate); }
  // Serves GET /metrics on `listen` (HOST:PORT). Returns once bound.
  absl::Status Start(const std::string& listen, Render render);
  void Stop() { server_.Stop(); }
  int port() const { return server_.port(); }

 private:
  HttpServer server_;
  Gate gate_;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_METRICS_H_
