#include "prober/uplink/config_client.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace sonde::prober {

ConfigClient::ConfigClient(std::shared_ptr<CollectorTargets> targets, v1::ProberHello hello,
                           std::string bearer_token, OnConfig on_config)
    : targets_(std::move(targets)),
      hello_(std::move(hello)),
      bearer_token_(std::move(bearer_token)),
      on_config_(std::move(on_config)) {
  for (size_t i = 0; i < targets_->size(); ++i) {
    stubs_.push_back(v1::ConfigService::NewStub(targets_->channel(i)));
  }
}

ConfigClient::~ConfigClient() { Stop(); }

void ConfigClient::set_running(const v1::ProberConfig& config) {
  running_ = common::CheckSet::FromChecks(config.checks(), config.probe_policy());
  absl::MutexLock l(&stats_mu_);
  stats_.version = running_.version();
}

ConfigClient::Stats ConfigClient::stats() const {
  absl::MutexLock l(&stats_mu_);
  return stats_;
}

bool ConfigClient::Take(v1::ProberConfig message, common::TransferAssembler* assembler) {
  {
    absl::MutexLock l(&stats_mu_);
    stats_.bytes_received += message.ByteSizeLong() + 5;
  }
  if (message.part_case() == v1::ProberConfig::PART_NOT_SET) {
    // Contract 1: the whole version in one message.
    spdlog::info("config {} from collector: {} checks for region {} (one message)",
                 message.version(), message.checks_size(), hello_.region());
    running_ = common::CheckSet::FromChecks(message.checks(), message.probe_policy());
    {
      absl::MutexLock l(&stats_mu_);
      ++stats_.full_applied;
      stats_.version = message.version();
    }
    on_config_(std::move(message));
    Report("", "");
    return true;
  }
  const std::string refused =
      message.has_header() ? message.header().version() : assembler->receiving();
  absl::StatusOr<bool> complete = assembler->Feed(message);
  absl::StatusOr<common::CheckSet> next = absl::UnknownError("");
  if (complete.ok() && !*complete) {
    return true;
  }
  if (complete.ok()) {
    const absl::Time start = absl::Now();
    common::Transfer transfer = assembler->Take();
    next = running_.Apply(transfer);
    if (next.ok()) {
      const bool delta = !transfer.base_version.empty();
      running_ = *std::move(next);
      v1::ProberConfig parsed;
      Delta changes;
      if (delta && on_delta_) {
        changes.version = running_.version();
        changes.policy = transfer.policy;
        changes.removed = std::move(transfer.removed);
        for (const std::string& bytes : transfer.check_bytes) {
          changes.changed.emplace_back().ParseFromString(bytes);  // Apply parsed it once
        }
        changes.whole = running_.ProberConfigBytes();
      } else {
        parsed = running_.ToProberConfig();
      }
      spdlog::info(
          "config {} from collector: {} checks for region {} ({}, {} bytes; verified "
          "and parsed in {})",
          running_.version(), running_.size(), hello_.region(),
          delta ? absl::StrCat("delta from ", transfer.base_version) : "full",
          transfer.payload_bytes,
          absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))));
      {
        absl::MutexLock l(&stats_mu_);
        ++(delta ? stats_.delta_applied : stats_.full_applied);
        stats_.version = running_.version();
      }
      if (delta && on_delta_) {
        on_delta_(std::move(changes));
      } else {
        on_config_(std::move(parsed));
      }
      Report("", "");
      return true;
    }
  }
  const absl::Status& why = complete.ok() ? next.status() : complete.status();
  spdlog::error("config from collector refused, still running version {}: {}", running_.version(),
                why.message());
  {
    absl::MutexLock l(&stats_mu_);
    ++stats_.refused;
  }
  Report(refused, std::string(why.message()));
  return false;
}

void ConfigClient::Report(const std::string& refused_version, const std::string& error) {
  grpc::ClientContext ctx;
  if (!bearer_token_.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + bearer_token_);
  }
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ConfigReport report;
  report.set_prober_id(hello_.prober_id());
  report.set_region(hello_.region());
  report.set_applied_version(running_.version());
  report.set_refused_version(refused_version);
  report.set_error(error);
  v1::ConfigReportReply reply;
  grpc::Status st = stubs_[watch_target_]->Report(&ctx, report, &reply);
  if (!st.ok()) {
    spdlog::warn("cannot tell the collector which config runs: {}", st.error_message());
  }
}

void ConfigClient::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ConfigClient::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    if (ctx_ != nullptr) {
      ctx_->TryCancel();
    }
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool ConfigClient::WaitToRetry(absl::Duration backoff) {
  const absl::Time until = absl::Now() + backoff;
  bool channel_was_down = false;
  while (!stopping_ && absl::Now() < until) {
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](bool* s) { return *s; }, &stopping_),
                         std::min(absl::Milliseconds(100), until - absl::Now()));
    // Without try_to_connect an IDLE channel would stay IDLE; gRPC paces
    // the connection attempts with its own backoff.
    const size_t current = targets_->current();
    const grpc_connectivity_state state =
        targets_->channel(current)->GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE && targets_->size() > 1) {
      // A connect attempt to this replica failed: the next one is asked
      // (an IDLE or CONNECTING channel, as after a maximum connection age,
      // is given its attempt).
      targets_->Failed(current);
      channel_was_down = true;
    } else if (state != GRPC_CHANNEL_READY) {
      channel_was_down = true;
    } else if (channel_was_down || current != watch_target_) {
      return true;
    }
  }
  return false;
}

void ConfigClient::Run() {
  absl::Duration backoff = backoff_initial_;
  while (true) {
    grpc::ClientContext ctx;
    hello_.set_config_protocol(common::kConfigProtocol);
    hello_.set_applied_config_version(running_.version());
    if (!bearer_token_.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + bearer_token_);
    }
    {
      absl::MutexLock l(&mu_);
      if (stopping_) {
        return;
      }
      ctx_ = &ctx;
    }
    watch_target_ = targets_->current();
    auto reader = stubs_[watch_target_]->Watch(&ctx, hello_);
    common::TransferAssembler assembler;
    v1::ProberConfig message;
    while (reader->Read(&message)) {
      backoff = backoff_initial_;
      if (!Take(std::move(message), &assembler)) {
        ctx.TryCancel();  // reconnecting makes the collector send the version anew
        while (reader->Read(&message)) {
        }
        break;
      }
      message.Clear();
    }
    if (assembler.in_progress()) {
      spdlog::warn("config version {} arrived in part only; still running version {}",
                   assembler.receiving(), running_.version());
    }
    grpc::Status st = reader->Finish();
    if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        st.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      spdlog::error("the collector refuses this prober's credentials: {}", st.error_message());
    }
    absl::MutexLock l(&mu_);
    ctx_ = nullptr;
    if (stopping_) {
      return;
    }
    spdlog::warn("config stream from collector ended: {}; retrying in {}", st.error_message(),
                 absl::FormatDuration(backoff));
    if (WaitToRetry(backoff)) {
      spdlog::info("collector reachable again; asking for the config now");
    }
    backoff = std::min(backoff * 1.6, backoff_max_);
  }
}

}  // namespace sonde::prober
