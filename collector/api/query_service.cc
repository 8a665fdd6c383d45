#include "collector/api/query_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/grpc_status.h"
#include "common/proto_time.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {

using common::SetTimestamp;
using common::ToGrpcStatus;

QueryService::QueryService(StorePool* pool, const common::Clock* clock)
    : pool_(pool), clock_(clock), incidents_(pool->conninfo()) {}

absl::StatusOr<v1::IncidentsReply> QueryService::ListIncidents(
    const v1::IncidentsRequest& request) {
  absl::Duration window = request.has_window() ? common::ToAbsl(request.window()) : absl::Hours(24);
  if (window <= absl::ZeroDuration() || window > kMaxAvailabilityWindow) {
    return absl::InvalidArgumentError("window must be positive and at most 400 days");
  }
  absl::MutexLock lock(&incidents_mu_);
  auto list =
      incidents_.List(request.include_resolved(), clock_->Now() - window, request.service());
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
  absl::MutexLock lock(&incidents_mu_);
  return incidents_.Timeline(id);
}

absl::StatusOr<v1::AcknowledgeReply> QueryService::Ack(const v1::AcknowledgeRequest& request) {
  if (request.incident_id().empty()) {
    return absl::InvalidArgumentError("incident_id is required");
  }
  std::string by = request.by().empty() ? "sondectl" : request.by();
  absl::MutexLock lock(&incidents_mu_);
  auto reply = incidents_.Acknowledge(request.incident_id(), by, request.comment(), clock_->Now());
  if (reply.ok() && !reply->already_acknowledged()) {
    spdlog::info("incident {} acknowledged by {}", request.incident_id(), by);
  }
  return reply;
}

grpc::Status QueryService::Incidents(grpc::ServerContext* context,
                                     const v1::IncidentsRequest* request,
                                     v1::IncidentsReply* reply) {
  return Answer(*context, reply, [&] { return ListIncidents(*request); });
}

grpc::Status QueryService::Timeline(grpc::ServerContext* context,
                                    const v1::TimelineRequest* request, v1::TimelineReply* reply) {
  return Answer(*context, reply, [&] { return GetTimeline(request->incident_id()); });
}

grpc::Status QueryService::Acknowledge(grpc::ServerContext* context,
                                       const v1::AcknowledgeRequest* request,
                                       v1::AcknowledgeReply* reply) {
  return Answer(*context, reply, [&] { return Ack(*request); });
}

grpc::Status QueryService::Probers(grpc::ServerContext* context, const v1::ProbersRequest*,
                                   v1::ProbersReply* reply) {
  return Answer(*context, reply, [&]() -> absl::StatusOr<v1::ProbersReply> {
    v1::ProbersReply out;
    if (deliveries_ != nullptr) {
      for (v1::ProberConfigStatus& s : deliveries_->Snapshot()) {
        *out.add_probers() = std::move(s);
      }
    }
    return out;
  });
}

template <typename Reply, typename Fn>
grpc::Status QueryService::Answer(const grpc::ServerContext& context, Reply* reply, Fn fn) {
  if (auth_ != nullptr) {
    if (absl::Status ok = auth_->Query(context); !ok.ok()) {
      return ToGrpcStatus(ok);
    }
  }
  absl::StatusOr<Reply> r = fn();
  if (!r.ok()) {
    return ToGrpcStatus(r.status());
  }
  *reply = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status QueryService::Availability(grpc::ServerContext* context,
                                        const v1::AvailabilityRequest* request,
                                        v1::AvailabilityReply* reply) {
  if (auth_ != nullptr) {
    if (absl::Status ok = auth_->Query(*context); !ok.ok()) {
      return ToGrpcStatus(ok);
    }
  }
  absl::Duration window = kDefaultAvailabilityWindow;
  if (request->has_window()) {
    window = common::ToAbsl(request->window());
  }
  if (window <= absl::ZeroDuration()) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("window must be positive, got ", absl::FormatDuration(window)));
  }
  if (window > kMaxAvailabilityWindow) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("window ", absl::FormatDuration(window),
                                     " is longer than the 400 days the collector answers"));
  }
  const absl::Time to = clock_->Now();
  const absl::Time from = to - window;

  // An idle pooled connection may have died since its last use; a read is
  // safe to retry once on a fresh one.
  absl::StatusOr<std::vector<v1::AvailabilityRow>> rows;
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<StorePool::Lease> store = pool_->Acquire();
    if (!store.ok()) {
      rows = store.status();
      break;
    }
    rows = (*store)->Availability(from, to, request->check_id(), request->region());
    if (rows.ok() || !absl::IsUnavailable(rows.status())) {
      break;
    }
  }
  if (!rows.ok()) {
    spdlog::error("query: availability failed: {}", std::string(rows.status().message()));
    return ToGrpcStatus(rows.status());
  }
  absl::StatusOr<StorePool::Lease> store = pool_->Acquire();
  if (store.ok()) {
    auto gaps = (*store)->Gaps(from, to, request->region());
    if (gaps.ok()) {
      for (v1::DataGap& g : *gaps) {
        *reply->add_gaps() = std::move(g);
      }
    } else {
      spdlog::warn("query: gaps failed: {}", std::string(gaps.status().message()));
    }
  }
  SetTimestamp(from, reply->mutable_from());
  SetTimestamp(to, reply->mutable_to());
  for (v1::AvailabilityRow& row : *rows) {
    *reply->add_rows() = std::move(row);
  }
  return grpc::Status::OK;
}

}  // namespace sonde::collector
