// QueryService: the `Query` service for sondectl, dashboards and the HTTP
// API. Availability is answered from the per-minute rollups (never from raw
// results); incidents, timelines and acknowledgements from the
// IncidentStore. Errors are absl::Status values converted once
// (common/grpc_status.h).
//
// Synchronous gRPC API; an availability request borrows a Store from the
// StorePool for its duration; the incident calls share one IncidentStore
// (one connection), one call at a time: a caller waits for its turn at most
// as long as one statement may take (pg::SessionLimits), then answers
// UNAVAILABLE, so a PostgreSQL that stopped answering costs each request a
// bounded time. The pool and the clock are borrowed and must outlive the
// service. Thread-safe.
#ifndef SONDE_COLLECTOR_API_QUERY_SERVICE_H_
#define SONDE_COLLECTOR_API_QUERY_SERVICE_H_

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collector/api/config_deliveries.h"
#include "collector/api/config_service.h"
#include "collector/api/prober_vitals.h"
#include "collector/api/report_query.h"
#include "collector/api/shard_status_board.h"
#include "collector/auth/auth.h"
#include "collector/cluster/members.h"
#include "collector/incidents/detection.h"
#include "collector/incidents/incident_store.h"
#include "collector/storage/store.h"
#include "collector/storage/store_pool.h"
#include "common/clock.h"
#include "sonde/v1/collector.grpc.pb.h"

namespace sonde::collector {

// The acknowledger as stored and shown: the claimed `by` (free text, made
// safe and capped) and the name of the token that proved it, "alice (token
// oncall)"; either alone when the other is empty; "sondectl" when both are.
std::string AcknowledgedBy(const std::string& by, const Caller& caller);

class QueryService final : public v1::Query::Service {
 public:
  QueryService(StorePool* pool, const common::Clock* clock);

  // Incidents: open ones (and with include_resolved those resolved within
  // `window`, default 24 h: every incident that was open in it), newest first.
  grpc::Status Incidents(grpc::ServerContext* context, const v1::IncidentsRequest* request,
                         v1::IncidentsReply* reply) override;
  // One incident and its timeline; NOT_FOUND for an unknown id.
  grpc::Status Timeline(grpc::ServerContext* context, const v1::TimelineRequest* request,
                        v1::TimelineReply* reply) override;
  // Acknowledges (repeats and escalations stop); NOT_FOUND for an unknown id.
  grpc::Status Acknowledge(grpc::ServerContext* context, const v1::AcknowledgeRequest* request,
                           v1::AcknowledgeReply* reply) override;

  // The same three without gRPC, for the HTTP API (auth is the caller's).
  // Ack stores who acknowledged as AcknowledgedBy(request.by, caller).
  absl::StatusOr<v1::IncidentsReply> ListIncidents(const v1::IncidentsRequest& request);
  absl::StatusOr<v1::TimelineReply> GetTimeline(const std::string& id);
  absl::StatusOr<v1::AcknowledgeReply> Ack(const v1::AcknowledgeRequest& request,
                                           const Caller& caller);
  // A person's update line on the incident's public timeline (PostUpdate).
  absl::StatusOr<v1::PostUpdateReply> Update(const v1::PostUpdateRequest& request,
                                             const Caller& caller);
  void set_authenticator(const Authenticator* auth) { auth_ = auth; }
  // Where Probers reads config delivery (not owned; null: no probers).
  void set_config_deliveries(const ConfigDeliveries* d) { deliveries_ = d; }
  void set_prober_vitals(const ProberVitals* v) { vitals_ = v; }

  // Update() behind scope ack (sondectl update).
  grpc::Status PostUpdate(grpc::ServerContext* context, const v1::PostUpdateRequest* request,
                          v1::PostUpdateReply* reply) override;

  // Config delivery per prober (sondectl status --probers).
  grpc::Status Probers(grpc::ServerContext* context, const v1::ProbersRequest* request,
                       v1::ProbersReply* reply) override;

  // The checks as the collector holds them, and the current state per
  // check x region (collector/api/current_status.h). Scope read. Without a
  // config holder or a detection runner set, the replies are empty.
  grpc::Status Checks(grpc::ServerContext* context, const v1::ChecksRequest* request,
                      v1::ChecksReply* reply) override;
  grpc::Status Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                      v1::StatusReply* reply) override;
  // The same two without gRPC, for the HTTP API (auth is the caller's).
  v1::ChecksReply ListChecks(const v1::ChecksRequest& request) const;
  v1::StatusReply CurrentStatus(const v1::StatusRequest& request) const;
  // Where Checks, Status and the reports read checks, maintenance and SLOs
  // (not owned; must outlive the service; null: none).
  void set_config(const ConfigHolder* config) {
    config_ = config;
    reports_.set_config(config);
  }
  void set_detection(const DetectionRunner* detection) { detection_ = detection; }
  // Cluster mode: Status answers for every shard from `board` (not owned;
  // must outlive the service; null: from the detection runner alone).
  void set_shard_status(const ShardStatusBoard* board) { shard_status_ = board; }
  // Where Collectors reads the replicas (not owned; null: an empty reply).
  void set_members(const cluster::MemberHeartbeat* members) { members_ = members; }
  // The collector replicas as of the last heartbeat (docs/ha.md). Scope read.
  grpc::Status Collectors(grpc::ServerContext* context, const v1::CollectorsRequest* request,
                          v1::CollectorsReply* reply) override;

  // Window [now - window, now); window defaults to 1h, must be positive and
  // at most 400 days (INVALID_ARGUMENT otherwise); or a calendar `month`
  // (ReportQuery). Store errors map to their gRPC code (UNAVAILABLE when
  // PostgreSQL is unreachable).
  grpc::Status Availability(grpc::ServerContext* context, const v1::AvailabilityRequest* request,
                            v1::AvailabilityReply* reply) override;
  // The config's SLOs: budget left and burn rates (docs/availability.md).
  grpc::Status Slo(grpc::ServerContext* context, const v1::SloRequest* request,
                   v1::SloReply* reply) override;
  // The report answers without gRPC, for the HTTP API (auth is the caller's).
  ReportQuery& reports() { return reports_; }

 private:
  // Checks the query token's `scope`, then answers with fn(caller)'s reply
  // or its status.
  template <typename Reply, typename Fn>
  grpc::Status Answer(const grpc::ServerContext& context, Scope scope, Reply* reply, Fn fn);
  // Runs fn(incidents_) in this caller's turn, or UNAVAILABLE when the turn
  // did not come in time.
  template <typename Fn>
  auto WithIncidents(Fn fn) -> decltype(fn(std::declval<IncidentStore&>()));

  const Authenticator* auth_ = nullptr;
  const ConfigDeliveries* deliveries_ = nullptr;
  const ProberVitals* vitals_ = nullptr;
  const ConfigHolder* config_ = nullptr;
  const DetectionRunner* detection_ = nullptr;
  const ShardStatusBoard* shard_status_ = nullptr;
  const cluster::MemberHeartbeat* members_ = nullptr;
  StorePool* const pool_;
  const common::Clock* const clock_;
  absl::Mutex incidents_mu_;
  bool incidents_busy_ ABSL_GUARDED_BY(incidents_mu_) = false;
  IncidentStore incidents_;  // used only by the caller whose turn it is
  ReportQuery reports_;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_QUERY_SERVICE_H_
