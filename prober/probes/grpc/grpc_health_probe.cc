// gRPC health probe (see grpc_health_probe.h).
#include "prober/probes/grpc/grpc_health_probe.h"

#include <chrono>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/checks/registry.h"
#include "common/net.h"
#include "common/text/safe_text.h"
#include "prober/io/dns_resolver.h"

namespace sonde::prober {
namespace {

using FC = v1::FailureClass;
using Serving = grpc::health::v1::HealthCheckResponse;

uint32_t MicrosBetween(common::EventLoop::MonoTime from, common::EventLoop::MonoTime to) {
  return static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(to - from).count());
}

}  // namespace

FC::Code ClassifyHealthAnswer(const GrpcCheckAnswer& answer, std::string* detail) {
  const grpc::Status& s = answer.status;
  if (s.ok()) {
    const std::string& name = Serving::ServingStatus_Name(answer.serving);
    *detail = absl::StrCat("health: ", name);
    return answer.serving == Serving::SERVING ? FC::OK : FC::GRPC_NOT_SERVING;
  }
  // gRPC's status codes are absl's, number for number.
  // The message is the server's words.
  *detail = absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(s.error_code())),
                         ": ", SafeText(s.error_message(), kTargetTextMaxBytes));
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return FC::GRPC_UNAVAILABLE;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return FC::GRPC_DEADLINE;
    default:
      return FC::GRPC_STATUS;
  }
}

namespace {

class GrpcHealthProbe : public Probe {
 public:
  GrpcHealthProbe(const v1::Check& check, ProbeEnv* env) : check_(check), env_(env) {
    const v1::GrpcSpec& g = check_.grpc();
    endpoint_ = GrpcEndpoint{g.target(), g.tls(), g.ca_file(), g.server_name()};
  }

  ~GrpcHealthProbe() override {
    if (token_ != nullptr) {
      token_->cancelled = true;
    }
    if (active_ && call_ != 0) {
      client_->Cancel(call_);
    }
  }

  void Run(common::EventLoop::MonoTime deadline, Done done) override {
    active_ = true;
    done_ = std::move(done);
    result_ = NewResult(*env_);
    result_->set_target(checks::TargetOf(check_));
    start_ = env_->loop->Now();
    if (client_ == nullptr) {
      client_ = GrpcHealthClient::Shared(env_->loop);
    }
    token_ = std::make_shared<RunToken>();
    if (env_->policy != nullptr && env_->policy->enabled()) {
      ResolveThenCall(deadline);
      return;
    }
    StartCall(endpoint_, deadline);
  }

  void Abort() override {
    if (!active_) {
      return;
    }
    if (call_ != 0) {
      client_->Cancel(call_);
      call_ = 0;
    }
    result_->set_grpc_status_code(static_cast<int32_t>(grpc::StatusCode::DEADLINE_EXCEEDED));
    Finish(FC::GRPC_DEADLINE,
           absl::StrCat(check_.grpc().target(), ": no answer before the check's timeout"));
  }

 private:
  // With a probe policy, gRPC must not pick the address itself: the name is
  // resolved here (c-ares), the address judged, and the call pinned to it
  // (the TLS name stays the host's).
  void ResolveThenCall(common::EventLoop::MonoTime deadline) {
    absl::StatusOr<common::HostPort> hp = common::ParseHostPort(check_.grpc().target(), 0);
    if (!hp.ok()) {
      env_->loop->Post([this, token = token_, message = std::string(hp.status().message())] {
        if (!token->cancelled) {
          Finish(FC::PROBER_ERROR, message);
        }
      });
      return;
    }
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - start_);
    env_->resolver->ResolveHost(
        hp->host, "", std::max(remaining, std::chrono::milliseconds(1)),
        [this, token = token_, host = hp->host, port = hp->port,
         deadline](DnsResolver::HostAnswer a) {
          if (token->cancelled) {
            return;
          }
          result_->set_dns_us(static_cast<uint32_t>(a.elapsed.count()));
          if (a.failure_class != FC::OK) {
            Finish(a.failure_class, a.detail);
            return;
          }
          const std::string& ip = a.addresses.front();
          result_->set_resolved_address(ip);
          if (absl::Status allowed = CheckProbePolicy(*env_, ip); !allowed.ok()) {
            Finish(FC::PROBER_POLICY, std::string(allowed.message()));
            return;
          }
          GrpcEndpoint pinned = endpoint_;
          pinned.target = ip.find(':') != std::string::npos ? absl::StrCat("ipv6:[", ip, "]:", port)
                                                            : absl::StrCat("ipv4:", ip, ":", port);
          if (pinned.tls && pinned.server_name.empty()) {
            pinned.server_name = host;
          }
          StartCall(pinned, deadline);
        });
  }

  void StartCall(const GrpcEndpoint& endpoint, common::EventLoop::MonoTime deadline) {
    auto system_deadline = std::chrono::system_clock::now() +
                           std::chrono::duration_cast<std::chrono::system_clock::duration>(
                               deadline - env_->loop->Now());
    auto call = client_->Check(endpoint, check_.grpc().service(), system_deadline,
                               [this, token = token_](GrpcCheckAnswer answer) {
                                 if (!token->cancelled) {
                                   OnAnswer(std::move(answer));
                                 }
                               });
    if (!call.ok()) {
      // done must not run inside Run().
      env_->loop->Post([this, token = token_, message = std::string(call.status().message())] {
        if (!token->cancelled) {
          Finish(FC::PROBER_ERROR, message);
        }
      });
      return;
    }
    call_ = *call;
  }

  void OnAnswer(GrpcCheckAnswer answer) {
    call_ = 0;
    result_->set_grpc_status_code(static_cast<int32_t>(answer.status.error_code()));
    if (answer.status.ok()) {
      result_->set_grpc_serving_status(Serving::ServingStatus_Name(answer.serving));
    }
    std::string detail;
    FC::Code fc = ClassifyHealthAnswer(answer, &detail);
    Finish(fc, absl::StrCat(check_.grpc().target(),
                            check_.grpc().service().empty()
                                ? ""
                                : absl::StrCat(" service \"", check_.grpc().service(), "\""),
                            ": ", detail));
  }

  void Finish(FC::Code fc, std::string detail) {
    if (!active_) {
      return;
    }
    active_ = false;
    token_->cancelled = true;  // a late answer of this run is dropped
    token_.reset();
    result_->set_total_us(MicrosBetween(start_, env_->loop->Now()));
    result_->set_failure_class(fc);
    result_->set_detail(SafeText(detail, kDetailMaxBytes));
    DeliverResult(*env_, &done_, &result_);
  }

  // Outlives the probe in the posted answer.
  struct RunToken {
    bool cancelled = false;
  };

  const v1::Check& check_;  // the Scheduler entry's (probe.h)
  ProbeEnv* env_;
  GrpcEndpoint endpoint_;
  std::shared_ptr<GrpcHealthClient> client_;
  // The active run.
  bool active_ = false;
  Done done_;
  std::shared_ptr<RunToken> token_;
  GrpcHealthClient::CallId call_ = 0;
  common::EventLoop::MonoTime start_;
  std::unique_ptr<v1::ProbeResult> result_;  // the pool's, while a run is active
};

}  // namespace

std::unique_ptr<Probe> NewGrpcHealthProbe(const v1::Check& check, ProbeEnv* env) {
  return std::make_unique<GrpcHealthProbe>(check, env);
}

}  // namespace sonde::prober
