#include "collector/api/config_service.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/config.h"
#include "common/config/config_transfer.h"
#include "common/grpc_status.h"
#include "spdlog/spdlog.h"

namespace sonde::collector {
namespace {}  // namespace

ConfigHolder::ConfigHolder(v1::Config config)
    : config_(std::make_shared<const v1::Config>(std::move(config))) {}

void ConfigHolder::Set(v1::Config config) {
  Set(std::make_shared<const v1::Config>(std::move(config)));
}

void ConfigHolder::Set(std::shared_ptr<const v1::Config> next) {
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
  std::map<std::string, uint64_t> hashes;
  for (const v1::Check& c : checks) {
    hashes[c.name()] = common::CheckHash(common::CheckBytes(c));
  }
  return common::VersionOf(hashes, common::PolicyBytes(policy));
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

grpc::Status ConfigService::Authorize(const grpc::ServerContext& context,
                                      const std::string& prober_id,
                                      const std::string& region) const {
  if (auth_ == nullptr) {
    return grpc::Status::OK;
  }
  absl::StatusOr<ProberIdentity> id = auth_->Prober(context);
  if (!id.ok()) {
    return common::ToGrpcStatus(grpc::StatusCode::UNAUTHENTICATED, id.status());
  }
  if (absl::Status ok = Authenticator::Matches(*id, prober_id, region); !ok.ok()) {
    return common::ToGrpcStatus(grpc::StatusCode::PERMISSION_DENIED, ok);
  }
  return grpc::Status::OK;
}

grpc::Status ConfigService::Report(grpc::ServerContext* context, const v1::ConfigReport* report,
                                   v1::ConfigReportReply*) {
  if (grpc::Status ok = Authorize(*context, report->prober_id(), report->region()); !ok.ok()) {
    return ok;
  }
  if (report->error().empty()) {
    spdlog::info("config: prober \"{}\" region \"{}\" applied version {}", report->prober_id(),
                 report->region(), report->applied_version());
  } else {
    spdlog::warn("config: prober \"{}\" region \"{}\" refused version {} ({}); it runs {}",
                 report->prober_id(), report->region(), report->refused_version(), report->error(),
                 report->applied_version());
  }
  deliveries_.Reported(*report, absl::Now());
  return grpc::Status::OK;
}

grpc::Status ConfigService::Watch(grpc::ServerContext* context, const v1::ProberHello* hello,
                                  grpc::ServerWriter<v1::ProberConfig>* writer) {
  if (hello->region().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "ProberHello.region is empty: a prober must say which region it is in");
  }
  if (grpc::Status ok = Authorize(*context, hello->prober_id(), hello->region()); !ok.ok()) {
    return ok;
  }
  const std::string who = absl::StrCat("prober \"", hello->prober_id(), "\" region \"",
                                       hello->region(), "\" (", context->peer(), ")");
  const bool parts = hello->config_protocol() >= common::kConfigProtocol;
  spdlog::info("config: {} watching (config contract {}, runs version \"{}\")", who,
               parts ? common::kConfigProtocol : 1, hello->applied_config_version());
  deliveries_.Connected(hello->prober_id(), hello->region(), hello->applied_config_version(),
                        absl::Now());
  struct Gone {
    ConfigDeliveries* d;
    const std::string& id;
    ~Gone() { d->Disconnected(id); }
  } gone{&deliveries_, hello->prober_id()};
  // The version the prober runs, or will once what was written is applied.
  std::string have = hello->applied_config_version();
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
    if (absl::Status st = parts ? SendParts(snap, *hello, who, &have, context, writer)
                                : SendWhole(*snap.config, *hello, who, &have, writer);
        !st.ok()) {
      return common::ToGrpcStatus(grpc::StatusCode::CANCELLED, st);
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

absl::Status ConfigService::SendParts(const ConfigHolder::Snapshot& snap,
                                      const v1::ProberHello& hello, const std::string& who,
                                      std::string* have, grpc::ServerContext* context,
                                      grpc::ServerWriter<v1::ProberConfig>* writer) {
  std::shared_ptr<const RegionVersion> rv =
      versions_.For(*snap.config, snap.generation, hello.region());
  if (rv->version == *have) {
    deliveries_.Current(hello.prober_id(), rv->version);
    return absl::OkStatus();
  }
  const char* kind = "";
  uint64_t bytes = 0;
  const std::vector<v1::ProberConfig>& messages = rv->TransferFrom(*have, &kind, &bytes);
  const absl::Time start = absl::Now();
  deliveries_.Sent(hello.prober_id(), rv->version, kind, bytes, start);
  uint64_t written = 0;
  for (const v1::ProberConfig& m : messages) {
    if (context->IsCancelled() || !writer->Write(m)) {
      spdlog::warn("config: {}: stream gone after {} of {} bytes of version {} ({})", who, written,
                   bytes, rv->version, kind);
      absl::Status gone = absl::CancelledError(absl::StrCat(
          "stream gone after ", written, " of ", bytes, " bytes of config version ", rv->version));
      deliveries_.Failed(hello.prober_id(), std::string(gone.message()), absl::Now());
      return gone;
    }
    written += m.ByteSizeLong() + 5;
  }
  spdlog::info("config: sent {} version {} ({}, {} checks, {} bytes in {} messages, {})", who,
               rv->version, kind, rv->checks, bytes, messages.size(),
               absl::FormatDuration(absl::Now() - start));
  *have = rv->version;
  return absl::OkStatus();
}

absl::Status ConfigService::SendWhole(const v1::Config& config, const v1::ProberHello& hello,
                                      const std::string& who, std::string* have,
                                      grpc::ServerWriter<v1::ProberConfig>* writer) {
  v1::ProberConfig pc = ProberConfigFor(config, hello.region());
  if (pc.version() == *have) {
    return absl::OkStatus();
  }
  if (!writer->Write(pc)) {
    spdlog::info("config: {}: stream gone", who);
    deliveries_.Failed(hello.prober_id(),
                       absl::StrCat("stream gone while sending version ", pc.version(),
                                    " in one message of ", pc.ByteSizeLong(), " bytes"),
                       absl::Now());
    return absl::CancelledError("stream gone");
  }
  deliveries_.Sent(hello.prober_id(), pc.version(), "legacy", pc.ByteSizeLong(), absl::Now());
  // A contract-1 prober cannot report: a version written counts as applied,
  // or every such prober would be a ticket during a rolling upgrade.
  v1::ConfigReport assumed;
  assumed.set_prober_id(hello.prober_id());
  assumed.set_region(hello.region());
  assumed.set_applied_version(pc.version());
  deliveries_.Reported(assumed, absl::Now());
  *have = pc.version();
  spdlog::info("config: sent {} {} checks, version {} (contract 1, one message of {} bytes)", who,
               pc.checks_size(), *have, pc.ByteSizeLong());
  return absl::OkStatus();
}

}  // namespace sonde::collector
