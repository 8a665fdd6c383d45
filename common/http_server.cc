#include "common/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/net.h"

namespace sonde::common {
namespace {

// Poll slices: a stopping server is noticed within one.
constexpr absl::Duration kPollSlice = absl::Milliseconds(200);
// After refusing a request whose body was not read, what is drained before
// the close (so the client reads the answer instead of a reset).
constexpr absl::Duration kLingerTime = absl::Milliseconds(500);
constexpr size_t kLingerBytes = 1 << 20;

// What the limits decided about the connection being served, shared by the
// stream and the routing hooks through the thread that serves it.
struct Connection {
  bool close = false;       // stop after this response
  bool over_limit = false;  // a byte cap was hit while reading
  bool in_body = false;     // past the headers
  bool timed_out = false;
};
thread_local Connection* t_connection = nullptr;
// Set while the accept thread runs a connection it has no room for.
thread_local bool t_refuse = false;

// A socket read and written under HttpServerLimits; one per connection.
class BoundedStream final : public httplib::Stream {
 public:
  BoundedStream(int sock, const HttpServerLimits& limits, const std::atomic<int>* listening,
                Connection* connection)
      : sock_(sock), limits_(limits), listening_(listening), connection_(connection) {}

  // Starts a request: its headers may use max_header_bytes and must have
  // arrived, with the body, by request_timeout.
  void BeginRequest() {
    limit_ = limits_.max_header_bytes;
    delivered_ = 0;
    read_deadline_ = absl::Now() + limits_.request_timeout;
    write_deadline_ = absl::InfiniteFuture();
    connection_->in_body = false;
  }
  void BeginBody() {
    limit_ = limits_.max_body_bytes;
    delivered_ = 0;
    connection_->in_body = true;
  }
  // Waits up to `idle` for the first byte of a request.
  bool WaitForRequest(absl::Duration idle) {
    return buffered() > 0 || Wait(POLLIN, absl::Now() + idle);
  }

  bool is_readable() const override { return buffered() > 0 || Wait(POLLIN, ReadDeadline()); }
  bool is_writable() const override { return Wait(POLLOUT, WriteDeadline()); }

  // The cap counts what is handed to the parser, so bytes that arrived
  // together with the headers count against the body.
  ssize_t read(char* ptr, size_t size) override {
    if (delivered_ >= limit_) {
      connection_->over_limit = true;
      return -1;
    }
    if (buffered() == 0) {
      if (!Wait(POLLIN, ReadDeadline())) {
        return -1;
      }
      ssize_t n = recv(sock_, buf_, sizeof(buf_), 0);
      if (n <= 0) {
        return n;
      }
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    size_t n = std::min({size, buffered(), limit_ - delivered_});
    delivered_ += n;
    std::copy(buf_ + begin_, buf_ + begin_ + n, ptr);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!Wait(POLLOUT, WriteDeadline())) {
      return -1;
    }
    return send(sock_, ptr, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(getsockname, ip, port);
  }
  int socket() const override { return sock_; }

 private:
  size_t buffered() const { return end_ - begin_; }
  absl::Time ReadDeadline() const {
    return std::min(read_deadline_, absl::Now() + limits_.read_timeout);
  }
  absl::Time WriteDeadline() const {
    if (write_deadline_ == absl::InfiniteFuture()) {
      write_deadline_ = absl::Now() + limits_.write_timeout;  // the response starts now
    }
    return write_deadline_;
  }
  // Polls for `events` until `deadline`, in slices so that a stopping
  // server ends the wait; false on timeout, error, hang-up or stop.
  bool Wait(short events, absl::Time deadline) const {
    for (;;) {
      if (listening_->load() == INVALID_SOCKET) {
        return false;
      }
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        connection_->timed_out = true;
        return false;
      }
      pollfd p{sock_, events, 0};
      int r = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(std::min(left, kPollSlice))));
      if (r > 0) {
        return (p.revents & (events | POLLHUP)) != 0 && (p.revents & POLLNVAL) == 0;
      }
      if (r < 0 && errno != EINTR) {
        return false;
      }
    }
  }
  void Address(int (*get)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    ip.clear();
    port = 0;
    if (get(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
      port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
      port = ntohs(a->sin6_port);
    }
    ip = text;
  }

  const int sock_;
  const HttpServerLimits& limits_;
  const std::atomic<int>* const listening_;
  Connection* const connection_;
  size_t limit_ = 0;  // bytes this phase (headers, body) may deliver
  size_t delivered_ = 0;
  absl::Time read_deadline_ = absl::InfiniteFuture();
  mutable absl::Time write_deadline_ = absl::InfiniteFuture();
  char buf_[4096];
  size_t begin_ = 0;
  size_t end_ = 0;
};

// A fixed pool with a bounded queue. A connection that finds the queue full
// is run at once on the accept thread with t_refuse set: the server answers
// it 503 and closes it.
class BoundedQueue final : public httplib::TaskQueue {
 public:
  BoundedQueue(int threads, size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { Work(); });
    }
  }
  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (jobs_.size() < max_queued_) {
        jobs_.push_back(std::move(fn));
        cv_.notify_one();
        return;
      }
    }
    t_refuse = true;
    fn();
    t_refuse = false;
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      t.join();
    }
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) {
          return;  // stopping, and nothing left to close
        }
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
    }
  }

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class BoundedServer final : public httplib::Server {
 public:
  BoundedServer(HttpServerLimits limits, HttpServerStats* stats)
      : limits_(std::move(limits)), stats_(stats) {
    new_task_queue = [this] {
      return new BoundedQueue(std::max(1, limits_.threads),
                              static_cast<size_t>(std::max(0, limits_.queued_connections)));
    };
    set_payload_max_length(limits_.max_body_bytes);
    set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return BeforeBody(req, res);
    });
    set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
      Connection* c = t_connection;
      if (c != nullptr && c->over_limit) {
        res.status = c->in_body ? 413 : 431;
        res.body =
            c->in_body ? "request body over the limit\n" : "request headers over the limit\n";
        res.set_header("Content-Type", "text/plain");
        res.set_header("Connection", "close");
        c->close = true;
        stats_->requests_too_large.fetch_add(1);
      }
    });
  }

 private:
  // Headers are in, the body is not: a body announced over the cap is
  // refused now, unread.
  HandlerResponse BeforeBody(const httplib::Request& req, httplib::Response& res) {
    Connection* c = t_connection;
    if (c == nullptr) {
      return HandlerResponse::Unhandled;
    }
    stream_->BeginBody();
    if (req.has_header("Content-Length")) {
      const std::string text = req.get_header_value("Content-Length");
      char* end = nullptr;
      unsigned long long length = std::strtoull(text.c_str(), &end, 10);
      if (end == text.c_str() || *end != '\0' || length > limits_.max_body_bytes) {
        res.status = 413;
        res.set_content("request body over the limit\n", "text/plain");
        c->close = true;
        stats_->requests_too_large.fetch_add(1);
        return HandlerResponse::Handled;
      }
    }
    return HandlerResponse::Unhandled;
  }

  // Replaces httplib's connection loop (a private virtual, overridden).
  bool process_and_close_socket(int sock) override {
    if (t_refuse) {
      static constexpr char k503[] =
          "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
      send(sock, k503, sizeof(k503) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      shutdown(sock, SHUT_RDWR);
      close(sock);
      stats_->connections_refused.fetch_add(1);
      return false;
    }
    Connection connection;
    BoundedStream stream(sock, limits_, &svr_sock_, &connection);
    t_connection = &connection;
    stream_ = &stream;
    bool ok = false;
    for (int n = 0; n < limits_.requests_per_connection; ++n) {
      if (!stream.WaitForRequest(n == 0 ? limits_.read_timeout : limits_.keep_alive)) {
        break;
      }
      stream.BeginRequest();
      bool closed = false;
      ok = process_request(stream, n + 1 == limits_.requests_per_connection, closed, nullptr);
      if (!ok || closed || connection.close || connection.timed_out) {
        break;
      }
    }
    t_connection = nullptr;
    stream_ = nullptr;
    if (connection.timed_out) {
      stats_->connections_timed_out.fetch_add(1);
    }
    Linger(sock, connection.close);
    close(sock);
    return ok;
  }

  // Sends FIN, then (after a refusal with the body unread) drains what the
  // client still sends for a moment, so it reads the answer rather than a
  // reset.
  void Linger(int sock, bool unread) {
    shutdown(sock, SHUT_WR);
    if (!unread) {
      return;
    }
    const absl::Time until = absl::Now() + kLingerTime;
    char sink[16 << 10];
    size_t drained = 0;
    while (drained < kLingerBytes && absl::Now() < until) {
      pollfd p{sock, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(until - absl::Now()))) <= 0) {
        return;
      }
      ssize_t n = recv(sock, sink, sizeof(sink), 0);
      if (n <= 0) {
        return;
      }
      drained += static_cast<size_t>(n);
    }
  }

  const HttpServerLimits limits_;
  HttpServerStats* const stats_;
  // The stream of the connection this thread serves.
  static thread_local BoundedStream* stream_;
};

thread_local BoundedStream* BoundedServer::stream_ = nullptr;

}  // namespace

absl::StatusOr<int> BindHttpServer(httplib::Server* server, const std::string& listen) {
  // ParseHostPort refuses port 0, which here means "pick a free one": parse
  // the host alone then ("127.0.0.1:0", "[::1]:0").
  std::string spec = listen;
  if (absl::EndsWith(spec, ":0")) {
    std::string host = spec.substr(0, spec.size() - 2);
    if (absl::EndsWith(host, "]") || host.find(':') == std::string::npos) {
      spec = host;
    }
  }
  auto hp = ParseHostPort(spec, 0);
  if (!hp.ok()) {
    return hp.status();
  }
  int port = hp->port == 0 ? server->bind_to_any_port(hp->host)
                           : (server->bind_to_port(hp->host, hp->port) ? hp->port : -1);
  if (port <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  return port;
}

HttpServer::HttpServer(HttpServerLimits limits)
    : stats_(std::make_unique<HttpServerStats>()),
      server_(std::make_unique<BoundedServer>(std::move(limits), stats_.get())) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(const std::string& listen, absl::string_view what) {
  absl::StatusOr<int> port = BindHttpServer(server_.get(), listen);
  if (!port.ok()) {
    return absl::Status(port.status().code(), absl::StrCat(what, ": ", port.status().message()));
  }
  port_ = *port;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace sonde::common
