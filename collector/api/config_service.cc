#include "collector/api/config_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/config.h"
#include "common/grpc_status.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

void Fnv1a(absl::string_view bytes, uint64_t* hash) {
  for (unsigned char c : bytes) {
    *hash ^= c;
    *hash *= kFnvPrime;
  }
}

std::string DeterministicBytes(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&cos);
  }
  return out;
}

}  // namespace

ConfigHolder::ConfigHolder(v1::Config config)
    : config_(std::make_shared<const v1::Config>(std::move(config))) {}

void ConfigHolder::Set(v1::Config config) {
  auto next = std::make_shared<const v1::Config>(std::move(config));
  absl::MutexLock l(&mu_);
  config_ = std::move(next);
  ++generation_;
}

std::shared_ptr<const v1::Config> ConfigHolder::Get() const {
  absl::MutexLock l(&mu_);
  return config_;
}

ConfigHolder::Snapshot ConfigHolder::Current() const {
  absl::MutexLock l(&mu_);
  return Snapshot{config_, generation_, shutting_down_};
}

ConfigHolder::Snapshot ConfigHolder::WaitForChange(uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock l(&mu_);
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return generation_ != seen || shutting_down_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return Snapshot{config_, generation_, shutting_down_};
}

void ConfigHolder::Shutdown() {
  absl::MutexLock l(&mu_);
  shutting_down_ = true;
}

std::string ConfigVersion(const std::vector<v1::Check>& checks, const v1::ProbePolicy& policy) {
  uint64_t hash = kFnvOffset;
  for (const v1::Check& c : checks) {
    std::string bytes = DeterministicBytes(c);
    // Length-prefixed, so that moving bytes between checks changes the hash.
    Fnv1a(absl::StrCat(bytes.size(), ":"), &hash);
    Fnv1a(bytes, &hash);
  }
  if (policy.ByteSizeLong() > 0) {
    std::string bytes = DeterministicBytes(policy);
    Fnv1a(absl::StrCat("policy ", bytes.size(), ":"), &hash);
    Fnv1a(bytes, &hash);
  }
  return absl::StrCat(absl::Hex(hash, absl::kZeroPad16));
}

v1::ProberConfig ProberConfigFor(const v1::Config& config, const std::string& region) {
  std::vector<v1::Check> checks = common::ChecksForRegion(config, region);
  v1::ProberConfig out;
  out.set_version(ConfigVersion(checks, config.probe_policy()));
  if (config.probe_policy().ByteSizeLong() > 0) {
    *out.mutable_probe_policy() = config.probe_policy();
  }
  for (v1::Check& c : checks) {
    *out.add_checks() = std::move(c);
  }
  return out;
}

absl::Status CheckRegionKnown(const v1::Config& config, const std::string& region) {
  if (config.regions().empty()) {
    return absl::OkStatus();
  }
  if (std::find(config.regions().begin(), config.regions().end(), region) !=
      config.regions().end()) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("region \"", region, "\" is not in the collector's config; known regions: ",
                   absl::StrJoin(config.regions(), ", ")));
}

ConfigService::ConfigService(const ConfigHolder* holder, absl::Duration poll)
    : holder_(holder), poll_(poll) {}

grpc::Status ConfigService::Watch(grpc::ServerContext* context, const v1::ProberHello* hello,
                                  grpc::ServerWriter<v1::ProberConfig>* writer) {
  if (hello->region().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "ProberHello.region is empty: a prober must say which region it is in");
  }
  if (auth_ != nullptr) {
    absl::StatusOr<ProberIdentity> id = auth_->Prober(*context);
    if (!id.ok()) {
      return common::ToGrpcStatus(grpc::StatusCode::UNAUTHENTICATED, id.status());
    }
    if (absl::Status ok = Authenticator::Matches(*id, hello->prober_id(), hello->region());
        !ok.ok()) {
      return common::ToGrpcStatus(grpc::StatusCode::PERMISSION_DENIED, ok);
    }
  }
  const std::string who = absl::StrCat("prober \"", hello->prober_id(), "\" region \"",
                                       hello->region(), "\" (", context->peer(), ")");
  spdlog::info("config: {} watching (it has version \"{}\")", who, hello->version());
  std::string sent_version;
  ConfigHolder::Snapshot snap = holder_->Current();
  while (true) {
    if (snap.shutting_down) {
      spdlog::info("config: {}: ending the watch, the collector is shutting down", who);
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "collector shutting down; reconnect");
    }
    absl::Status known = CheckRegionKnown(*snap.config, hello->region());
    if (!known.ok()) {
      spdlog::warn("config: {}: {}", who, std::string(known.message()));
      return common::ToGrpcStatus(grpc::StatusCode::FAILED_PRECONDITION, known);
    }
    v1::ProberConfig pc = ProberConfigFor(*snap.config, hello->region());
    if (pc.version() != sent_version) {
      if (!writer->Write(pc)) {
        spdlog::info("config: {}: stream gone", who);
        return grpc::Status::CANCELLED;
      }
      sent_version = pc.version();
      spdlog::info("config: sent {} {} checks, version {}", who, pc.checks_size(), sent_version);
    }
    const uint64_t seen = snap.generation;
    do {
      if (context->IsCancelled()) {
        spdlog::info("config: {}: watch cancelled", who);
        return grpc::Status::CANCELLED;
      }
      snap = holder_->WaitForChange(seen, poll_);
    } while (snap.generation == seen && !snap.shutting_down);
  }
}

}  // namespace sonde::collector
