// Asynchronous gRPC health checks (see health_client.h).
#include "prober/probes/grpc/health_client.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sonde::prober {
namespace {

namespace health = ::grpc::health::v1;

// A target that failed is tried again soon: a probe must see a recovered
// server within about a second, not after gRPC's default backoff (≤ 120 s).
constexpr int kMinReconnectBackoffMs = 100;
constexpr int kMaxReconnectBackoffMs = 1000;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ca_file ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

struct GrpcHealthClient::Call {
  CallId id = 0;
  grpc::ClientContext context;
  health::HealthCheckResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<health::HealthCheckResponse>> reader;
  Callback cb;
};

std::shared_ptr<GrpcHealthClient> GrpcHealthClient::Shared(common::EventLoop* loop) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* clients = new std::map<common::EventLoop*, std::weak_ptr<GrpcHealthClient>>();
  absl::MutexLock l(&mu);
  std::weak_ptr<GrpcHealthClient>& slot = (*clients)[loop];
  std::shared_ptr<GrpcHealthClient> client = slot.lock();
  if (client == nullptr) {
    client = std::make_shared<GrpcHealthClient>(loop);
    slot = client;
  }
  return client;
}

GrpcHealthClient::GrpcHealthClient(common::EventLoop* loop) : loop_(loop) {
  // Started once every member exists.
  thread_ = std::thread([this] { DrainCompletions(); });
}

GrpcHealthClient::~GrpcHealthClient() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    for (auto& [id, call] : outstanding_) {
      call->context.TryCancel();
    }
  }
  cq_.Shutdown();
  thread_.join();
}

absl::StatusOr<health::Health::Stub*> GrpcHealthClient::StubFor(const GrpcEndpoint& endpoint) {
  std::string key = absl::StrCat(endpoint.target, "|", endpoint.tls, "|", endpoint.ca_file, "|",
                                 endpoint.server_name);
  auto it = stubs_.find(key);
  if (it != stubs_.end()) {
    return it->second.get();
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kMinReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kMinReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (endpoint.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!endpoint.ca_file.empty()) {
      auto roots = ReadFile(endpoint.ca_file);
      if (!roots.ok()) {
        return roots.status();
      }
      ssl.pem_root_certs = *std::move(roots);
    }
    if (!endpoint.server_name.empty()) {
      args.SetSslTargetNameOverride(endpoint.server_name);
    }
    creds = grpc::SslCredentials(ssl);
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(endpoint.target, creds, args);
  channels_[key] = channel;
  auto& stub = stubs_[key];
  stub = health::Health::NewStub(channel);
  return stub.get();
}

absl::StatusOr<GrpcHealthClient::CallId> GrpcHealthClient::Check(
    const GrpcEndpoint& endpoint, const std::string& service,
    std::chrono::system_clock::time_point deadline, Callback cb) {
  auto stub = StubFor(endpoint);
  if (!stub.ok()) {
    return stub.status();
  }
  auto* call = new Call();
  call->id = next_id_++;
  call->cb = std::move(cb);
  call->context.set_deadline(deadline);
  health::HealthCheckRequest request;
  request.set_service(service);
  {
    absl::MutexLock l(&mu_);
    outstanding_[call->id] = call;
  }
  call->reader = (*stub)->PrepareAsyncCheck(&call->context, request, &cq_);
  call->reader->StartCall();
  call->reader->Finish(&call->response, &call->status, call);
  return call->id;
}

void GrpcHealthClient::Cancel(CallId id) {
  absl::MutexLock l(&mu_);
  auto it = outstanding_.find(id);
  if (it != outstanding_.end()) {
    it->second->context.TryCancel();
  }
}

void GrpcHealthClient::DrainCompletions() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    bool deliver = false;
    {
      absl::MutexLock l(&mu_);
      outstanding_.erase(call->id);
      deliver = !stopping_;
    }
    if (!deliver) {
      continue;
    }
    GrpcCheckAnswer answer;
    answer.status = call->status;
    answer.serving = call->response.status();
    loop_->Post([cb = std::move(call->cb), answer = std::move(answer)]() mutable {
      cb(std::move(answer));
    });
  }
}

}  // namespace sonde::prober
