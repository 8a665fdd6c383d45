#include "collector/query_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

// absl and gRPC share the canonical code numbering.
grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) {
    return grpc::Status::OK;
  }
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t us = absl::ToUnixMicros(t);
  int64_t s = us / 1000000;
  int64_t rem = us % 1000000;
  if (rem < 0) {
    rem += 1000000;
    --s;
  }
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(rem * 1000));
}

}  // namespace

QueryService::QueryService(StorePool* pool, const common::Clock* clock)
    : pool_(pool), clock_(clock) {}

grpc::Status QueryService::Availability(grpc::ServerContext* context,
                                        const v1::AvailabilityRequest* request,
                                        v1::AvailabilityReply* reply) {
  if (auth_ != nullptr) {
    if (absl::Status ok = auth_->Query(*context); !ok.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(ok.message()));
    }
  }
  absl::Duration window = kDefaultAvailabilityWindow;
  if (request->has_window()) {
    window = common::ToAbsl(request->window());
  }
  if (window <= absl::ZeroDuration()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("window must be positive, got ",
                                     absl::FormatDuration(window)));
  }
  if (window > kMaxAvailabilityWindow) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
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
    rows = (*store)->Availability(from, to, request->check_id(),
                                  request->region());
    if (rows.ok() || !absl::IsUnavailable(rows.status())) {
      break;
    }
  }
  if (!rows.ok()) {
    spdlog::error("query: availability failed: {}",
                  std::string(rows.status().message()));
    return ToGrpc(rows.status());
  }
  absl::StatusOr<StorePool::Lease> store = pool_->Acquire();
  if (store.ok()) {
    auto gaps = (*store)->Gaps(from, to, request->region());
    if (gaps.ok()) {
      for (v1::DataGap& g : *gaps) *reply->add_gaps() = std::move(g);
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
