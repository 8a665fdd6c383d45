// FaultServer: listeners, accept loop, control API, rules and stats
// (see fault_server.h for threads and ownership).
#include "tests/faultd/fault_server.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "tests/faultd/dns_endpoints.h"
#include "tests/faultd/http_session.h"
#include "tests/faultd/stream_connection.h"
#include "tests/faultd/tcp_session.h"

namespace sonde::faultd {
namespace {

constexpr int kListenBacklog = 1024;
constexpr int kMaxAcceptsPerEvent = 64;
constexpr int kDnsBindAttempts = 20;
constexpr int kBlackholeFillers = 4;
constexpr int kBlackholeProbeMs = 100;

constexpr absl::string_view kControlIndex =
    "sonde-faultd control endpoint\n"
    "  GET  /rules         current rules (JSON list)\n"
    "  PUT  /rules         replace all rules (JSON list in the body)\n"
    "  GET  /stats         counters per listener and per rule (JSON)\n"
    "  POST /reset-stats   zero every counter and fail_share sequence\n"
    "  GET  /ports         bound ports (JSON)\n"
    "  GET  /ca.pem        the CA that signed the served certificates\n"
    "  GET  /healthz       \"ok\"\n";

absl::Status Prefixed(absl::string_view flag, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(flag, ": ", s.message()));
}

ControlResponse JsonError(int status, absl::string_view message) {
  return ControlResponse{status, "application/json",
                         absl::StrCat("{\"error\": ", JsonQuote(message), "}\n")};
}

// Connects to `addr` and waits up to `ms` for the handshake. True when it
// completed (the connection is handed back in *out).
bool ConnectWithin(const SocketAddress& addr, int ms, UniqueFd* out) {
  UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return false;
  }
  if (connect(fd.get(), addr.sa(), addr.len) != 0 && errno != EINPROGRESS) {
    return false;
  }
  pollfd p{fd.get(), POLLOUT, 0};
  if (poll(&p, 1, ms) != 1) {
    return false;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    return false;
  }
  *out = std::move(fd);
  return true;
}

}  // namespace

std::map<std::string, int> ListenerPorts::ByName() const {
  std::map<std::string, int> out;
  const std::pair<const char*, int> all[] = {
      {"http", http},       {"https", https},         {"tls", tls},   {"tcp", tcp},    {"dns", dns},
      {"control", control}, {"blackhole", blackhole}, {"grpc", grpc}, {"grpcs", grpcs}};
  for (const auto& [name, port] : all) {
    if (port != 0) {
      out[name] = port;
    }
  }
  return out;
}

std::string ListenerPorts::ToJson() const {
  std::string out = "{";
  const std::pair<const char*, int> all[] = {
      {"http", http},       {"https", https},         {"tls", tls},   {"tcp", tcp},    {"dns", dns},
      {"control", control}, {"blackhole", blackhole}, {"grpc", grpc}, {"grpcs", grpcs}};
  bool first = true;
  for (const auto& [name, port] : all) {
    if (port == 0) {
      continue;
    }
    absl::StrAppend(&out, first ? "" : ", ", "\"", name, "\": ", port);
    first = false;
  }
  return out + "}";
}

FaultServer::FaultServer(FaultServerOptions options) : options_(std::move(options)) {
  absl::MutexLock l(&mu_);
  rules_ = RuleSet::Empty();
}

FaultServer::~FaultServer() { Stop(); }

absl::Status FaultServer::Start() {
  if (started_) {
    return absl::FailedPreconditionError("FaultServer::Start called twice");
  }
  started_ = true;
  signal(SIGPIPE, SIG_IGN);
  RETURN_IF_ERROR(loop_.Init());
  ASSIGN_OR_RETURN(certs_, CertKit::Generate(options_.cert_names));
  ASSIGN_OR_RETURN(tls_, TlsServerContext::Create(certs_.get()));
  if (!options_.rules_json.empty()) {
    RETURN_IF_ERROR(SetRulesJson(options_.rules_json));
  }
  RETURN_IF_ERROR(BindStream(ListenerKind::kHttp, options_.http_listen));
  RETURN_IF_ERROR(BindStream(ListenerKind::kHttps, options_.https_listen));
  RETURN_IF_ERROR(BindStream(ListenerKind::kTls, options_.tls_listen));
  RETURN_IF_ERROR(BindStream(ListenerKind::kTcp, options_.tcp_listen));
  RETURN_IF_ERROR(BindStream(ListenerKind::kControl, options_.control_listen));
  RETURN_IF_ERROR(BindDns(options_.dns_listen));
  RETURN_IF_ERROR(BindBlackhole(options_.blackhole_listen));
  thread_ = std::thread([this] { loop_.Run(); });
  running_ = true;
  return BindGrpc();
}

void FaultServer::Stop() {
  if (!running_) {
    return;
  }
  running_ = false;
  // Before the loop stops: delayed gRPC answers are finished on it.
  if (grpc_ != nullptr) {
    grpc_->Stop();
  }
  loop_.Stop();
  thread_.join();
  // The loop is stopped: sessions and endpoints can go on this thread.
  connections_.clear();
  dns_udp_.reset();
  listeners_.clear();
  blackhole_fillers_.clear();
}

absl::Status FaultServer::BindStream(ListenerKind kind, const std::string& listen) {
  if (listen.empty()) {
    return absl::OkStatus();
  }
  std::string flag = absl::StrCat("--", ListenerName(kind), "-listen");
  auto addr = ParseListenAddress(listen);
  if (!addr.ok()) {
    return Prefixed(flag, addr.status());
  }
  auto fd = ListenTcp(*addr, kListenBacklog);
  if (!fd.ok()) {
    return Prefixed(flag, fd.status());
  }
  ASSIGN_OR_RETURN(SocketAddress bound, LocalAddress(fd->get()));
  addresses_[static_cast<int>(kind)] = bound;
  switch (kind) {
    case ListenerKind::kHttp:
      ports_.http = bound.port();
      break;
    case ListenerKind::kHttps:
      ports_.https = bound.port();
      break;
    case ListenerKind::kTls:
      ports_.tls = bound.port();
      break;
    case ListenerKind::kTcp:
      ports_.tcp = bound.port();
      break;
    case ListenerKind::kControl:
      ports_.control = bound.port();
      break;
    default:
      break;
  }
  int raw = fd->get();
  RETURN_IF_ERROR(
      loop_.AddFd(raw, EPOLLIN, [this, kind, raw](uint32_t) { OnAcceptable(kind, raw); }));
  listeners_.push_back(std::move(*fd));
  return absl::OkStatus();
}

absl::Status FaultServer::BindDns(const std::string& listen) {
  if (listen.empty()) {
    return absl::OkStatus();
  }
  auto addr = ParseListenAddress(listen);
  if (!addr.ok()) {
    return Prefixed("--dns-listen", addr.status());
  }
  // UDP first; then TCP on the port UDP got. With port 0 the TCP port may
  // be taken already, so try again with a new UDP port (bounded).
  absl::Status last;
  for (int attempt = 0; attempt < kDnsBindAttempts; ++attempt) {
    auto udp = BindUdp(*addr);
    if (!udp.ok()) {
      return Prefixed("--dns-listen", udp.status());
    }
    ASSIGN_OR_RETURN(SocketAddress bound, LocalAddress(udp->get()));
    auto tcp = ListenTcp(bound, kListenBacklog);
    if (!tcp.ok()) {
      last = tcp.status();
      if (addr->port() != 0) {
        break;
      }
      continue;
    }
    addresses_[static_cast<int>(ListenerKind::kDns)] = bound;
    ports_.dns = bound.port();
    SessionHost* host = this;
    dns_udp_ = std::make_unique<DnsUdpEndpoint>(host, std::move(*udp), options_.max_pending_dns);
    RETURN_IF_ERROR(dns_udp_->Start());
    int raw = tcp->get();
    RETURN_IF_ERROR(loop_.AddFd(raw, EPOLLIN,
                                [this, raw](uint32_t) { OnAcceptable(ListenerKind::kDns, raw); }));
    listeners_.push_back(std::move(*tcp));
    return absl::OkStatus();
  }
  return Prefixed("--dns-listen", last);
}

absl::Status FaultServer::BindBlackhole(const std::string& listen) {
  if (listen.empty()) {
    return absl::OkStatus();
  }
  auto addr = ParseListenAddress(listen);
  if (!addr.ok()) {
    return Prefixed("--blackhole-listen", addr.status());
  }
  // Backlog 0 and never accept(): once the accept queue holds one
  // connection, Linux drops further SYNs (tcp_abort_on_overflow=0), so
  // clients see their connect time out. faultd fills the queue itself.
  auto fd = ListenTcp(*addr, 0);
  if (!fd.ok()) {
    return Prefixed("--blackhole-listen", fd.status());
  }
  ASSIGN_OR_RETURN(SocketAddress bound, LocalAddress(fd->get()));
  addresses_[static_cast<int>(ListenerKind::kBlackhole)] = bound;
  ports_.blackhole = bound.port();
  listeners_.push_back(std::move(*fd));
  bool verified = false;
  for (int i = 0; i < kBlackholeFillers; ++i) {
    UniqueFd filler;
    if (!ConnectWithin(bound, kBlackholeProbeMs, &filler)) {
      verified = true;  // this connect hung: the queue is full
      break;
    }
    blackhole_fillers_.push_back(std::move(filler));
  }
  stats_.AddListener(ListenerKind::kBlackhole,
                     verified ? "queue_full_verified" : "queue_full_unverified");
  if (!verified) {
    spdlog::warn(
        "blackhole listener {}: connects still complete after {} fillers; "
        "connect timeouts are not guaranteed",
        bound.ToString(), kBlackholeFillers);
  }
  return absl::OkStatus();
}

absl::Status FaultServer::BindGrpc() {
  std::optional<SocketAddress> plain;
  std::optional<SocketAddress> tls;
  if (!options_.grpc_listen.empty()) {
    auto addr = ParseListenAddress(options_.grpc_listen);
    if (!addr.ok()) {
      return Prefixed("--grpc-listen", addr.status());
    }
    plain = *addr;
  }
  if (!options_.grpcs_listen.empty()) {
    auto addr = ParseListenAddress(options_.grpcs_listen);
    if (!addr.ok()) {
      return Prefixed("--grpcs-listen", addr.status());
    }
    tls = *addr;
  }
  if (!plain && !tls) {
    return absl::OkStatus();
  }
  // Decide() only reads the rules under mu_ and counts into the
  // thread-safe stats, so gRPC's threads may call it.
  grpc_ = std::make_unique<GrpcHealthListener>(
      &loop_, [this](const MatchContext& ctx) { return Decide(ctx); });
  GrpcHealthListener::TlsIdentity identity{certs_->LeafPem(CertKind::kValid),
                                           certs_->LeafKeyPem(CertKind::kValid)};
  RETURN_IF_ERROR(grpc_->Start(plain ? &*plain : nullptr, tls ? &*tls : nullptr, identity));
  ports_.grpc = grpc_->plain_port();
  ports_.grpcs = grpc_->tls_port();
  if (plain) {
    plain->set_port(ports_.grpc);
    addresses_[static_cast<int>(ListenerKind::kGrpc)] = *plain;
  }
  return absl::OkStatus();
}

void FaultServer::OnAcceptable(ListenerKind kind, int listen_fd) {
  for (int i = 0; i < kMaxAcceptsPerEvent; ++i) {
    SocketAddress peer;
    peer.len = sizeof peer.storage;
    int c = accept4(listen_fd, peer.sa(), &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        // Out of descriptors or memory: pause this listener briefly rather
        // than spin on a readable socket we cannot accept from.
        stats_.AddListener(kind, "accept_errors");
        (void)loop_.ModifyFd(listen_fd, 0);
        loop_.RunAfter(std::chrono::milliseconds(100),
                       [this, listen_fd] { (void)loop_.ModifyFd(listen_fd, EPOLLIN); });
      }
      return;
    }
    UniqueFd fd(c);
    if (connections_.size() >= static_cast<size_t>(options_.max_connections)) {
      stats_.AddListener(kind, "rejected_over_cap");
      continue;  // closed by UniqueFd
    }
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SessionHost* host = this;
    std::shared_ptr<StreamConnection> conn;
    switch (kind) {
      case ListenerKind::kHttp:
      case ListenerKind::kHttps:
      case ListenerKind::kControl:
        conn = std::make_shared<HttpSession>(host, kind, std::move(fd), peer);
        break;
      case ListenerKind::kTls:
        conn = std::make_shared<TlsOnlySession>(host, kind, std::move(fd), peer);
        break;
      case ListenerKind::kTcp:
        conn = std::make_shared<TcpBannerSession>(host, kind, std::move(fd), peer);
        break;
      case ListenerKind::kDns:
        conn = std::make_shared<DnsTcpSession>(host, kind, std::move(fd), peer);
        break;
      case ListenerKind::kBlackhole:
      case ListenerKind::kGrpc:
        return;
    }
    connections_[conn.get()] = conn;
    absl::Status s = conn->Start();
    if (!s.ok()) {
      spdlog::error("{} connection from {}: {}", std::string(ListenerName(kind)), peer.ToString(),
                    s.ToString());
      conn->Abort(false);
    }
  }
}

void FaultServer::ConnectionClosed(StreamConnection* conn) { connections_.erase(conn); }

std::shared_ptr<const RuleSet> FaultServer::CurrentRules() {
  absl::MutexLock l(&mu_);
  return rules_;
}

absl::StatusOr<common::UniqueSsl> FaultServer::NewTlsSession(int fd, ClientHelloHandler* handler) {
  return tls_->NewSsl(fd, handler);
}

void FaultServer::InstallRules(std::unique_ptr<RuleSet> rules) {
  absl::MutexLock l(&mu_);
  rules->set_generation(++generation_);
  stats_.BeginGeneration(generation_, rules->rules().size());
  spdlog::info("rules: {} installed (generation {})", rules->rules().size(), generation_);
  rules_ = std::move(rules);
}

absl::Status FaultServer::SetRulesJson(absl::string_view json) {
  ASSIGN_OR_RETURN(std::unique_ptr<RuleSet> rules, RuleSet::FromJson(json));
  InstallRules(std::move(rules));
  return absl::OkStatus();
}

std::string FaultServer::RulesJson() const {
  absl::MutexLock l(&mu_);
  return rules_->ToJson();
}

StatsSnapshot FaultServer::stats() const {
  absl::MutexLock l(&mu_);
  return stats_.Snapshot();
}

std::string FaultServer::StatsJson() const {
  absl::MutexLock l(&mu_);
  return StatsToJson(stats_.Snapshot(), *rules_, ports_.ByName());
}

void FaultServer::ResetStats() {
  absl::MutexLock l(&mu_);
  stats_.Reset();
}

ControlResponse FaultServer::HandleControl(const HttpRequest& request) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  bool get = method == "GET" || method == "HEAD";
  if (path == "/rules") {
    if (get) {
      return {200, "application/json", RulesJson() + "\n"};
    }
    if (method == "PUT" || method == "POST") {
      absl::Status s = SetRulesJson(request.body);
      if (!s.ok()) {
        return JsonError(400, s.message());
      }
      absl::MutexLock l(&mu_);
      return {200, "application/json",
              absl::StrCat("{\"ok\": true, \"rules\": ", rules_->rules().size(),
                           ", \"generation\": ", generation_, "}\n")};
    }
    return JsonError(405, "use GET or PUT on /rules");
  }
  if (path == "/stats") {
    if (get) {
      return {200, "application/json", StatsJson()};
    }
    return JsonError(405, "use GET on /stats");
  }
  if (path == "/reset-stats") {
    if (method == "POST" || method == "PUT") {
      ResetStats();
      return {200, "application/json", "{\"ok\": true}\n"};
    }
    return JsonError(405, "use POST on /reset-stats");
  }
  if (get && path == "/ports") {
    return {200, "application/json", ports_.ToJson() + "\n"};
  }
  if (get && path == "/ca.pem") {
    return {200, "application/x-pem-file", ca_pem()};
  }
  if (get && path == "/healthz") {
    return {200, "text/plain; charset=utf-8", "ok\n"};
  }
  if (get && path == "/") {
    return {200, "text/plain; charset=utf-8", std::string(kControlIndex)};
  }
  return JsonError(404, absl::StrCat("no such control endpoint: ", method, " ", path));
}

}  // namespace sonde::faultd
