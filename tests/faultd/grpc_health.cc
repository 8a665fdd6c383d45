// The gRPC health endpoint (see grpc_health.h).
#include "tests/faultd/grpc_health.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace sonde::faultd {
namespace {

namespace health = ::grpc::health::v1;

// The answer of one call, finished exactly once: by the delay timer on the
// loop thread, or at once by a cancellation on a gRPC thread.
class PendingAnswer {
 public:
  PendingAnswer(grpc::ServerUnaryReactor* reactor, grpc::Status status, RuleMatch match)
      : reactor_(reactor), status_(std::move(status)), match_(std::move(match)) {}

  // Sends the decided answer (or `override_status`). Later calls do nothing.
  void Finish(const grpc::Status* override_status = nullptr) {
    grpc::ServerUnaryReactor* reactor = nullptr;
    {
      absl::MutexLock l(&mu_);
      std::swap(reactor, reactor_);
    }
    if (reactor == nullptr) {
      return;
    }
    if (override_status != nullptr) {
      match_.Count("cancelled");
    }
    reactor->Finish(override_status != nullptr ? *override_status : status_);
  }

 private:
  absl::Mutex mu_;
  grpc::ServerUnaryReactor* reactor_ ABSL_GUARDED_BY(mu_);  // null once finished
  const grpc::Status status_;
  const RuleMatch match_;
};

// One call's reactor: finishes at once when the client cancels.
class CheckReactor : public grpc::ServerUnaryReactor {
 public:
  void set_answer(std::shared_ptr<PendingAnswer> answer) { answer_ = std::move(answer); }
  void OnCancel() override {
    if (answer_ != nullptr) {
      static const grpc::Status kCancelled(grpc::StatusCode::CANCELLED, "cancelled");
      answer_->Finish(&kCancelled);
    }
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<PendingAnswer> answer_;
};

// "ipv4:127.0.0.3:40112" / "ipv6:[::1]:40112" -> the address; nullopt when
// the peer is something else.
std::optional<SocketAddress> PeerAddress(const std::string& peer) {
  absl::string_view p = peer;
  if (!absl::ConsumePrefix(&p, "ipv4:") && !absl::ConsumePrefix(&p, "ipv6:")) {
    return std::nullopt;
  }
  auto addr = ParseListenAddress(p);
  if (!addr.ok()) {
    return std::nullopt;
  }
  return *addr;
}

const char* ServingStatusName(int status) {
  switch (status) {
    case kServing:
      return "SERVING";
    case kNotServing:
      return "NOT_SERVING";
    case kServiceUnknown:
      return "SERVICE_UNKNOWN";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

class GrpcHealthListener::Service : public health::Health::CallbackService {
 public:
  Service(common::EventLoop* loop, Decide decide) : loop_(loop), decide_(std::move(decide)) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const health::HealthCheckRequest* request,
                                  health::HealthCheckResponse* response) override {
    std::optional<SocketAddress> source = PeerAddress(context->peer());
    MatchContext ctx;
    ctx.listener = ListenerKind::kGrpc;
    ctx.phase = Phase::kRequest;
    ctx.source = source ? &*source : nullptr;
    ctx.service = request->service();
    RuleMatch m = decide_(ctx);
    m.Count("checks");
    grpc::Status status;
    if (m->grpc_code != 0) {
      status = grpc::Status(static_cast<grpc::StatusCode>(m->grpc_code), m->spec.grpc_message());
      m.Count(absl::StrCat("grpc_status_", m->spec.grpc_status()));
    } else {
      response->set_status(
          static_cast<health::HealthCheckResponse::ServingStatus>(m->serving_status));
      m.Count(absl::StrCat("serving_", ServingStatusName(m->serving_status)));
    }
    auto* reactor = new CheckReactor();
    uint32_t delay_ms = m->spec.delay_ms();
    auto answer = std::make_shared<PendingAnswer>(reactor, std::move(status), std::move(m));
    if (delay_ms == 0) {
      answer->Finish();
      return reactor;
    }
    reactor->set_answer(answer);
    loop_->Post([loop = loop_, answer, delay_ms] {
      loop->RunAfter(std::chrono::milliseconds(delay_ms), [answer] { answer->Finish(); });
    });
    return reactor;
  }

 private:
  common::EventLoop* loop_;
  Decide decide_;
};

GrpcHealthListener::GrpcHealthListener(common::EventLoop* loop, Decide decide)
    : service_(std::make_unique<Service>(loop, std::move(decide))) {}

GrpcHealthListener::~GrpcHealthListener() { Stop(); }

absl::Status GrpcHealthListener::Start(const SocketAddress* plain, const SocketAddress* tls,
                                       const TlsIdentity& identity) {
  if (plain == nullptr && tls == nullptr) {
    return absl::OkStatus();
  }
  grpc::ServerBuilder builder;
  if (plain != nullptr) {
    builder.AddListeningPort(plain->ToString(), grpc::InsecureServerCredentials(), &plain_port_);
  }
  if (tls != nullptr) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({identity.key_pem, identity.cert_pem});
    builder.AddListeningPort(tls->ToString(), grpc::SslServerCredentials(ssl), &tls_port_);
  }
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || (plain != nullptr && plain_port_ == 0) ||
      (tls != nullptr && tls_port_ == 0)) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", plain != nullptr ? plain->ToString() : "",
        plain != nullptr && tls != nullptr ? " and " : "", tls != nullptr ? tls->ToString() : ""));
  }
  return absl::OkStatus();
}

void GrpcHealthListener::Stop() {
  if (server_ == nullptr) {
    return;
  }
  // Calls waiting for a delay are cancelled at once (OnCancel finishes them).
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  server_.reset();
}

}  // namespace sonde::faultd
