#include "prober/config_client.h"

#include "common/logging.h"

namespace sonde::prober {

ConfigClient::ConfigClient(std::shared_ptr<grpc::Channel> channel, v1::ProberHello hello,
                           std::string bearer_token, OnConfig on_config)
    : stub_(v1::ConfigService::NewStub(channel)),
      hello_(std::move(hello)),
      bearer_token_(std::move(bearer_token)),
      on_config_(std::move(on_config)) {}

ConfigClient::~ConfigClient() { Stop(); }

void ConfigClient::Start() { thread_ = std::thread([this] { Run(); }); }

void ConfigClient::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    if (ctx_ != nullptr) ctx_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void ConfigClient::Run() {
  absl::Duration backoff = absl::Seconds(1);
  while (true) {
    grpc::ClientContext ctx;
    if (!bearer_token_.empty()) ctx.AddMetadata("authorization", "Bearer " + bearer_token_);
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
      ctx_ = &ctx;
    }
    auto reader = stub_->Watch(&ctx, hello_);
    v1::ProberConfig config;
    while (reader->Read(&config)) {
      backoff = absl::Seconds(1);
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
    if (stopping_) return;
    spdlog::warn("config stream from collector ended: {}; retrying in {}", st.error_message(),
                 absl::FormatDuration(backoff));
    mu_.AwaitWithTimeout(absl::Condition(+[](bool* s) { return *s; }, &stopping_), backoff);
    backoff = std::min(backoff * 1.6, absl::Seconds(60));
  }
}

}  // namespace sonde::prober
