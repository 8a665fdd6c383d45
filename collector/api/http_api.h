// HttpApi: the collector's small HTTP surface for people and scripts
// (cpp-httplib, its own threads), next to gRPC's Query service:
//   GET  /healthz                          -> "ok"
//   GET  /api/v1/incidents[?all=1&service=S&window=24h]
//   GET  /api/v1/incidents/{id}            -> incident and timeline
//   POST /api/v1/incidents/{id}/ack        body (optional) {"by":"alice","comment":"..."}
//   GET  /api/v1/checks[?service=S&check=C]             -> Query.Checks
//   GET  /api/v1/status[?service=S&check=C&region=R]    -> Query.Status
//   GET  /api/v1/availability[?window=30d|month=M&time_zone=Z&service=S&check=C&region=R]
//   GET  /api/v1/slos[?name=N&service=S]   -> the availability and SLO reports
//   POST /api/v1/incidents/{id}/updates    body {"message":"...","by":"alice"} (scope ack)
//   GET  /status, /status.json, /status/... the public status page (status_page.h), when set
// Replies are proto3 JSON (proto field names); errors {"error": "..."} with
// 400 (bad request), 401 (no or unknown token), 403 (token without the
// scope, or a cross-origin POST), 404, 413/431 (body over 64 KiB, headers
// over 16 KiB: common/http_server.h), 415 (POST without Content-Type:
// application/json), 503 (PostgreSQL down, or the server is full). With an
// Authenticator that is not open, every /api call needs "Authorization:
// Bearer <query token>": scope read for GETs, ack to acknowledge. A POST
// is refused when its Origin is not this server's own or Sec-Fetch-Site
// says another site sent it. Borrowed QueryService and Authenticator must
// outlive it; handlers run on the HttpServer's threads.
#ifndef SONDE_COLLECTOR_API_HTTP_API_H_
#define SONDE_COLLECTOR_API_HTTP_API_H_

#include <string>

#include "absl/status/status.h"
#include "collector/api/query_service.h"
#include "collector/api/status_page.h"
#include "collector/auth/auth.h"
#include "common/http_server.h"

namespace sonde::collector {

class HttpApi {
 public:
  HttpApi(QueryService* query, const Authenticator* auth);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Serves the status page too (borrowed; must outlive this). Before Start.
  void set_status_page(StatusPage* page) { status_page_ = page; }

  // Binds `listen` (HOST:PORT, port 0 picks one) and serves. UNAVAILABLE
  // when it cannot bind.
  absl::Status Start(const std::string& listen);
  void Stop();
  int port() const { return server_.port(); }
  // What the server's bounds refused (connections, oversized requests,
  // timeouts), for /metrics.
  const common::HttpServerStats& stats() const { return server_.stats(); }

 private:
  QueryService* const query_;
  const Authenticator* const auth_;
  StatusPage* status_page_ = nullptr;
  common::HttpServer server_;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_HTTP_API_H_
