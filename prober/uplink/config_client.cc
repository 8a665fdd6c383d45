#include "prober/uplink/config_client.h"

#include <algorithm>

#include "common/logging.h"

namespace sonde::prober {

ConfigClient::ConfigClient(std::shared_ptr<grpc::Channel> channel, v1::ProberHello hello,
                           std::string bearer_token, OnConfig on_config)
    : channel_(std::move(channel)),
      stub_(v1::ConfigService::NewStub(channel_)),
      hello_(std::move(hello)),
      bearer_token_(std::move(bearer_token)),
      on_config_(std::move(on_config)) {}

ConfigClient::~ConfigClient() { Stop(); }

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
    if (channel_->GetState(/*try_to_connect=*/true) != GRPC_CHANNEL_READY) {
      channel_was_down = true;
    } else if (channel_was_down) {
      return true;
    }
  }
  return false;
}

void ConfigClient::Run() {
  absl::Duration backoff = backoff_initial_;
  while (true) {
    grpc::ClientContext ctx;
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
    auto reader = stub_->Watch(&ctx, hello_);
    v1::ProberConfig config;
    while (reader->Read(&config)) {
      backoff = backoff_initial_;
      spdlog::info("config {} from collector: {} checks for region {}", config.version(),
                   config.checks_size(), hello_.region());
      on_config_(std::move(config));
      config.Clear();
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
