#include "collector/api/query_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/api/current_status.h"
#include "common/config/config.h"
#include "common/grpc_status.h"
#include "common/proto_time.h"
#include "common/text/safe_text.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {

using common::SetTimestamp;
using common::ToGrpcStatus;

namespace {

// Caps for the free text of an acknowledgement.
constexpr size_t kMaxByBytes = 200;
constexpr size_t kMaxCommentBytes = 2000;

}  // namespace

QueryService::QueryService(StorePool* pool, const common::Clock* clock)
    : pool_(pool), clock_(clock), incidents_(pool->conninfo()), reports_(pool, clock) {}

template <typename Fn>
auto QueryService::WithIncidents(Fn fn) -> decltype(fn(std::declval<IncidentStore&>())) {
  const absl::Duration wait = pg::GetSessionLimits().statement_timeout + pg::kAnswerGrace;
  {
    absl::MutexLock lock(&incidents_mu_);
    const bool free =
        incidents_mu_.AwaitWithTimeout(absl::Condition(
                                           +[](bool* busy) { return !*busy; }, &incidents_busy_),
                                       wait);
    if (!free) {
      return absl::UnavailableError(absl::StrCat("the incident database stayed busy for ",
                                                 absl::FormatDuration(wait),
                                                 " (PostgreSQL slow or not answering); try again"));
    }
    incidents_busy_ = true;
  }
  auto result = fn(incidents_);
  absl::MutexLock lock(&incidents_mu_);
  incidents_busy_ = false;
  return result;
}

absl::StatusOr<v1::IncidentsReply> QueryService::ListIncidents(
    const v1::IncidentsRequest& request) {
  absl::Duration window = request.has_window() ? common::ToAbsl(request.window()) : absl::Hours(24);
  if (window <= absl::ZeroDuration() || window > kMaxAvailabilityWindow) {
    return absl::InvalidArgumentError("window must be positive and at most 400 days");
  }
  auto list = WithIncidents([&](IncidentStore& incidents) {
    return incidents.List(request.include_resolved(), clock_->Now() - window, request.service());
  });
  if (!list.ok()) {
    return list.status();
  }
  v1::IncidentsReply reply;
  for (v1::Incident& i : *list) {
    *reply.add_incidents() = std::move(i);
  }
  return reply;
}

absl::StatusOr<v1::TimelineReply> QueryService::GetTimeline(const std::string& id) {
  if (id.empty()) {
    return absl::InvalidArgumentError("incident_id is required");
  }
  return WithIncidents([&](IncidentStore& incidents) { return incidents.Timeline(id); });
}

std::string AcknowledgedBy(const std::string& by, const Caller& caller) {
  std::string who = SafeText(by, kMaxByBytes);
  if (caller.token_name.empty()) {
    return who.empty() ? "sondectl" : who;
  }
  if (who.empty()) {
    return absl::StrCat("token ", caller.token_name);
  }
  return absl::StrCat(who, " (token ", caller.token_name, ")");
}

absl::StatusOr<v1::AcknowledgeReply> QueryService::Ack(const v1::AcknowledgeRequest& request,
                                                       const Caller& caller) {
  if (request.incident_id().empty()) {
    return absl::InvalidArgumentError("incident_id is required");
  }
  const std::string by = AcknowledgedBy(request.by(), caller);
  const std::string comment = SafeText(request.comment(), kMaxCommentBytes);
  auto reply = WithIncidents([&](IncidentStore& incidents) {
    return incidents.Acknowledge(request.incident_id(), by, comment, clock_->Now());
  });
  if (reply.ok() && !reply->already_acknowledged()) {
    spdlog::info("incident {} acknowledged by {}", SafeText(request.incident_id()), by);
  }
  return reply;
}

absl::StatusOr<v1::PostUpdateReply> QueryService::Update(const v1::PostUpdateRequest& request,
                                                         const Caller& caller) {
  if (request.incident_id().empty()) {
    return absl::InvalidArgumentError("incident_id is required");
  }
  const std::string message = SafeText(request.message(), kMaxCommentBytes);
  if (message.empty()) {
    return absl::InvalidArgumentError("message is required");
  }
  auto reply = WithIncidents([&](IncidentStore& incidents) {
    return incidents.PostUpdate(request.incident_id(), message, clock_->Now());
  });
  if (reply.ok()) {
    spdlog::info("incident {}: update by {}", SafeText(request.incident_id()),
                 AcknowledgedBy(request.by(), caller));
  }
  return reply;
}

grpc::Status QueryService::PostUpdate(grpc::ServerContext* context,
                                      const v1::PostUpdateRequest* request,
                                      v1::PostUpdateReply* reply) {
  return Answer(*context, Scope::kAck, reply,
                [&](const Caller& caller) { return Update(*request, caller); });
}

grpc::Status QueryService::Incidents(grpc::ServerContext* context,
                                     const v1::IncidentsRequest* request,
                                     v1::IncidentsReply* reply) {
  return Answer(*context, Scope::kRead, reply,
                [&](const Caller&) { return ListIncidents(*request); });
}

grpc::Status QueryService::Timeline(grpc::ServerContext* context,
                                    const v1::TimelineRequest* request, v1::TimelineReply* reply) {
  return Answer(*context, Scope::kRead, reply,
                [&](const Caller&) { return GetTimeline(request->incident_id()); });
}

grpc::Status QueryService::Acknowledge(grpc::ServerContext* context,
                                       const v1::AcknowledgeRequest* request,
                                       v1::AcknowledgeReply* reply) {
  return Answer(*context, Scope::kAck, reply,
                [&](const Caller& caller) { return Ack(*request, caller); });
}

grpc::Status QueryService::Probers(grpc::ServerContext* context, const v1::ProbersRequest*,
                                   v1::ProbersReply* reply) {
  return Answer(*context, Scope::kRead, reply,
                [&](const Caller&) -> absl::StatusOr<v1::ProbersReply> {
                  std::vector<v1::ProberConfigStatus> probers;
                  if (deliveries_ != nullptr) {
                    probers = deliveries_->Snapshot();
                  }
                  if (vitals_ != nullptr) {
                    vitals_->MergeInto(&probers);
                  }
                  v1::ProbersReply out;
                  for (v1::ProberConfigStatus& s : probers) {
                    *out.add_probers() = std::move(s);
                  }
                  return out;
                });
}

grpc::Status QueryService::Collectors(grpc::ServerContext* context, const v1::CollectorsRequest*,
                                      v1::CollectorsReply* reply) {
  return Answer(
      *context, Scope::kRead, reply, [&](const Caller&) -> absl::StatusOr<v1::CollectorsReply> {
        if (members_ == nullptr) {
          return v1::CollectorsReply();
        }
        return cluster::CollectorsReplyFrom(members_->View(), members_->identity().replica_id);
      });
}

v1::ChecksReply QueryService::ListChecks(const v1::ChecksRequest& request) const {
  if (config_ == nullptr) {
    return v1::ChecksReply();
  }
  return BuildChecksReply(*config_->Get(), request);
}

v1::StatusReply QueryService::CurrentStatus(const v1::StatusRequest& request) const {
  if (shard_status_ != nullptr && config_ != nullptr) {
    return shard_status_->Status(request, *config_->Get(), clock_->Now());
  }
  DetectionRunner::Snapshot snapshot;
  if (detection_ != nullptr) {
    snapshot = detection_->TakeSnapshot(request.service(), request.check(), request.region());
  }
  return BuildStatusReply(snapshot, clock_->Now());
}

grpc::Status QueryService::Checks(grpc::ServerContext* context, const v1::ChecksRequest* request,
                                  v1::ChecksReply* reply) {
  return Answer(
      *context, Scope::kRead, reply,
      [&](const Caller&) -> absl::StatusOr<v1::ChecksReply> { return ListChecks(*request); });
}

grpc::Status QueryService::Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                                  v1::StatusReply* reply) {
  return Answer(
      *context, Scope::kRead, reply,
      [&](const Caller&) -> absl::StatusOr<v1::StatusReply> { return CurrentStatus(*request); });
}

template <typename Reply, typename Fn>
grpc::Status QueryService::Answer(const grpc::ServerContext& context, Scope scope, Reply* reply,
                                  Fn fn) {
  Caller caller;
  if (auth_ != nullptr) {
    absl::StatusOr<Caller> who = auth_->Authorize(context, scope);
    if (!who.ok()) {
      return ToGrpcStatus(who.status());
    }
    caller = *std::move(who);
  }
  absl::StatusOr<Reply> r = fn(caller);
  if (!r.ok()) {
    return ToGrpcStatus(r.status());
  }
  *reply = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status QueryService::Availability(grpc::ServerContext* context,
                                        const v1::AvailabilityRequest* request,
                                        v1::AvailabilityReply* reply) {
  return Answer(*context, Scope::kRead, reply,
                [&](const Caller&) { return reports_.Availability(*request); });
}

grpc::Status QueryService::Slo(grpc::ServerContext* context, const v1::SloRequest* request,
                               v1::SloReply* reply) {
  return Answer(*context, Scope::kRead, reply,
                [&](const Caller&) { return reports_.Slo(*request); });
}

}  // namespace sonde::collector
