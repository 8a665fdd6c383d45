#include "prober/probes/connected_probe.h"

#include "absl/strings/str_cat.h"
#include "common/checks/registry.h"

namespace sonde::prober {

using FC = v1::FailureClass;

ConnectedProbe::ConnectedProbe(const v1::Check& check, ProbeEnv* env, Endpoint endpoint)
    : check_(check),
      env_(env),
      endpoint_(std::move(endpoint)),
      target_(checks::TargetOf(check)),
      connector_(env) {}

ConnectedProbe::~ConnectedProbe() {
  active_ = false;
  CloseFd();
}

void ConnectedProbe::CloseFd() {
  if (fd_ >= 0) {
    env_->loop->CloseFd(fd_);
    fd_ = -1;
  }
}

void ConnectedProbe::Run(common::EventLoop::MonoTime deadline, Done done) {
  active_ = true;
  done_ = std::move(done);
  result_ = NewResult(*env_);
  conn_ = Connection{};
  start_ = env_->loop->Now();
  result_->set_target(target_);
  FC::Code fc = FC::OK;
  std::string detail;
  if (!BeginExchange(&fc, &detail)) {
    env_->loop->Post([this, fc, detail = std::move(detail)] { Finish(fc, detail); });
    return;
  }
  connector_.Connect(endpoint_.host, endpoint_.port, endpoint_.resolvers, deadline, ConnectOnly(),
                     [this](Connection c) { OnConnection(std::move(c)); });
}

void ConnectedProbe::OnConnection(Connection c) {
  conn_ = std::move(c);
  result_->set_dns_us(conn_.dns_us);
  result_->set_connect_us(conn_.connect_us);
  result_->set_resolved_address(conn_.address);
  result_->set_dns_rcode(conn_.rcode);
  if (conn_.failure_class != FC::OK) {
    Finish(conn_.failure_class, conn_.detail);
    return;
  }
  fd_ = conn_.fd;
  OnConnected();
}

void ConnectedProbe::Abort() {
  if (!active_) {
    return;
  }
  if (connector_.resolving()) {
    connector_.Cancel();
    Finish(FC::DNS_TIMEOUT,
           absl::StrCat("resolving ", endpoint_.host, ": no answer before the check's timeout"));
    return;
  }
  if (fd_ < 0) {
    connector_.Cancel();
    Finish(FC::TCP_TIMEOUT, absl::StrCat("connect to ", result_->target(),
                                         ": no answer before the check's timeout"));
    return;
  }
  FC::Code fc = FC::TIMEOUT;
  std::string detail;
  AbortExchange(&fc, &detail);
  Finish(fc, detail);
}

void ConnectedProbe::Finish(FC::Code fc, absl::string_view detail) {
  if (!active_) {
    return;
  }
  active_ = false;
  SetOutcome(conn_.fallback, fc, detail, /*http_status=*/0, result_.get());
  connector_.Cancel();
  ReleaseExchange();
  CloseFd();
  result_->set_total_us(static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(env_->loop->Now() - start_).count()));
  DeliverResult(*env_, &done_, &result_);
}

}  // namespace sonde::prober
