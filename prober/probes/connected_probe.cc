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
    env_->loop->Post(
        [this, fc, detail = std::move(detail)]() mutable { Finish(fc, std::move(detail)); });
    return;
  }
  connector_.Connect(endpoint_.host, endpoint_.port, endpoint_.resolvers, deadline, ConnectOnly(),
                     [this](Connection c) { OnConnection(std::move(c)); });
}

void ConnectedProbe::OnConnection(Connection c) {
  conn_ = c;
  result_->set_dns_us(c.dns_us);
  result_->set_connect_us(c.connect_us);
  result_->set_resolved_address(c.address);
  result_->set_dns_rcode(c.rcode);
  if (c.failure_class != FC::OK) {
    Finish(c.failure_class, c.detail);
    return;
  }
  fd_ = c.fd;
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
  Finish(fc, std::move(detail));
}

void ConnectedProbe::Finish(FC::Code fc, std::string detail) {
  if (!active_) {
    return;
  }
  active_ = false;
  connector_.Cancel();
  ReleaseExchange();
  CloseFd();
  result_->set_total_us(static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(env_->loop->Now() - start_).count()));
  SetOutcome(conn_.fallback, fc, std::move(detail), /*http_status=*/0, result_.get());
  DeliverResult(*env_, &done_, &result_);
}

}  // namespace sonde::prober
