// HttpApi: the collector's small HTTP surface for people and scripts
// (cpp-httplib, its own threads), next to gRPC's Query service:
//   GET  /healthz                          -> "ok"
//   GET  /api/v1/incidents[?all=1&service=S&window=24h]
//   GET  /api/v1/incidents/{id}            -> incident and timeline
//   POST /api/v1/incidents/{id}/ack        body (optional) {"by":"alice","comment":"..."}
// Replies are proto3 JSON (proto field names); errors {"error": "..."} with
// 400/401/404/503. With an Authenticator that is not open, every /api call
// needs "Authorization: Bearer <query token>". Borrowed QueryService and
// Authenticator must outlive it.
#ifndef SONDE_COLLECTOR_API_HTTP_API_H_
#define SONDE_COLLECTOR_API_HTTP_API_H_

#include <string>

#include "absl/status/status.h"
#include "collector/api/query_service.h"
#include "collector/auth/auth.h"
#include "common/http_server.h"

namespace sonde::collector {

class HttpApi {
 public:
  HttpApi(QueryService* query, const Authenticator* auth);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds `listen` (HOST:PORT, port 0 picks one) and serves. UNAVAILABLE
  // when it cannot bind.
  absl::Status Start(const std::string& listen);
  void Stop();
  int port() const { return server_.port(); }

 private:
  QueryService* const query_;
  const Authenticator* const auth_;
  common::HttpServer server_;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_HTTP_API_H_
