// Blocking loopback clients for faultd's tests (see test_clients.h).
#include "tests/unit/faultd/test_clients.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/pem.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sonde::faultd::testing {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void SetTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

absl::Status BindSource(int fd, const std::string& source, int family) {
  if (source.empty()) {
    return absl::OkStatus();
  }
  SocketAddress a;
  if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    in6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, source.c_str(), &in6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad source ", source));
    }
    a.len = sizeof(sockaddr_in6);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&a.storage);
    in4->sin_family = AF_INET;
    if (inet_pton(AF_INET, source.c_str(), &in4->sin_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad source ", source));
    }
    a.len = sizeof(sockaddr_in);
  }
  if (bind(fd, a.sa(), a.len) != 0) {
    return ErrnoStatus(absl::StrCat("bind ", source));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UniqueFd> ConnectFrom(const std::string& source, const SocketAddress& to,
                                     std::chrono::milliseconds timeout) {
  UniqueFd fd(socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return ErrnoStatus("socket");
  }
  absl::Status s = BindSource(fd.get(), source, to.family());
  if (!s.ok()) {
    return s;
  }
  SetTimeouts(fd.get(), timeout);
  if (connect(fd.get(), to.sa(), to.len) != 0) {
    return ErrnoStatus(absl::StrCat("connect ", to.ToString()));
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    off += n;
  }
  return true;
}

ReadResult ReadAll(int fd, size_t max_bytes) {
  ReadResult r;
  Clock::time_point start = Clock::now();
  char buf[16384];
  while (r.data.size() < max_bytes) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (r.first_byte_seconds < 0) {
        r.first_byte_seconds = SecondsSince(start);
      }
      r.data.append(buf, n);
      continue;
    }
    if (n == 0) {
      r.end = ReadEnd::kEof;
      break;
    }
    if (errno == EINTR) {
      continue;
    }
    r.end = errno == ECONNRESET                         ? ReadEnd::kReset
            : (errno == EAGAIN || errno == EWOULDBLOCK) ? ReadEnd::kTimeout
                                                        : ReadEnd::kError;
    break;
  }
  r.seconds = SecondsSince(start);
  return r;
}

HttpResult HttpExchange(int fd, const std::string& request) {
  HttpResult h;
  if (!SendAll(fd, request)) {
    h.end = ReadEnd::kError;
    return h;
  }
  ReadResult r = ReadAll(fd);
  h.end = r.end;
  h.first_byte_seconds = r.first_byte_seconds;
  h.seconds = r.seconds;
  size_t head_end = r.data.find("\r\n\r\n");
  h.head = r.data.substr(0, head_end);
  if (head_end != std::string::npos) {
    h.body = r.data.substr(head_end + 4);
  }
  if (h.head.size() >= 12 && h.head.compare(0, 5, "HTTP/") == 0) {
    (void)absl::SimpleAtoi(h.head.substr(9, 3), &h.status);
  }
  return h;
}

HttpResult HttpGet(const SocketAddress& server, const std::string& path, const std::string& source,
                   const std::string& extra_headers) {
  auto fd = ConnectFrom(source, server);
  if (!fd.ok()) {
    return HttpResult{0, "", "", ReadEnd::kError};
  }
  return HttpExchange(fd->get(), absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: localhost\r\n",
                                              extra_headers, "Connection: close\r\n\r\n"));
}

HttpResult HttpRequestTo(const SocketAddress& server, const std::string& method,
                         const std::string& path, const std::string& body,
                         const std::string& source) {
  auto fd = ConnectFrom(source, server);
  if (!fd.ok()) {
    return HttpResult{0, "", "", ReadEnd::kError};
  }
  return HttpExchange(fd->get(), absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: localhost\r\n",
                                              "Content-Length: ", body.size(),
                                              "\r\nConnection: close\r\n\r\n", body));
}

TlsResult TlsConnect(const SocketAddress& server, const TlsClientOptions& o) {
  TlsResult r;
  common::UniqueSslCtx ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (o.min_version) {
    SSL_CTX_set_min_proto_version(ctx.get(), o.min_version);
  }
  if (o.max_version) {
    SSL_CTX_set_max_proto_version(ctx.get(), o.max_version);
  }
  if (o.min_version && o.min_version < TLS1_2_VERSION) {
    SSL_CTX_set_security_level(ctx.get(), 0);
    SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
  }
  if (!o.ca_pem.empty()) {
    common::UniqueBio bio(BIO_new_mem_buf(o.ca_pem.data(), static_cast<int>(o.ca_pem.size())));
    common::UniqueX509 ca(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca.get());
  }
  auto fd = ConnectFrom(o.source, server);
  if (!fd.ok()) {
    r.error = std::string(fd.status().message());
    return r;
  }
  common::UniqueSsl ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd->get());
  if (!o.sni.empty()) {
    SSL_set_tlsext_host_name(ssl.get(), o.sni.c_str());
  }
  if (!o.verify_host.empty()) {
    SSL_set1_host(ssl.get(), o.verify_host.c_str());
  }
  ERR_clear_error();
  if (SSL_connect(ssl.get()) != 1) {
    r.error = common::OpenSslErrors();
    return r;
  }
  r.handshake_ok = true;
  r.verify_result = SSL_get_verify_result(ssl.get());
  r.version = SSL_version(ssl.get());
  r.peer_cert.reset(SSL_get1_peer_certificate(ssl.get()));
  if (!o.http_request.empty()) {
    SSL_write(ssl.get(), o.http_request.data(), static_cast<int>(o.http_request.size()));
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl.get(), buf, sizeof buf)) > 0) {
      r.http_response.append(buf, n);
    }
  }
  return r;
}

namespace {

absl::StatusOr<std::string> UdpExchange(const SocketAddress& server, const std::string& payload,
                                        const std::string& source,
                                        std::chrono::milliseconds timeout) {
  UniqueFd fd(socket(server.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return ErrnoStatus("socket");
  }
  absl::Status s = BindSource(fd.get(), source, server.family());
  if (!s.ok()) {
    return s;
  }
  if (sendto(fd.get(), payload.data(), payload.size(), 0, server.sa(), server.len) < 0) {
    return ErrnoStatus("sendto");
  }
  pollfd p{fd.get(), POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
    return absl::DeadlineExceededError("no DNS answer");
  }
  char buf[65536];
  ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
  if (n < 0) {
    return ErrnoStatus("recv");
  }
  return std::string(buf, n);
}

}  // namespace

absl::StatusOr<std::string> DnsRawUdp(const SocketAddress& server, const std::string& payload,
                                      std::chrono::milliseconds timeout) {
  return UdpExchange(server, payload, "127.0.0.1", timeout);
}

absl::StatusOr<dns::Message> DnsQuery(const SocketAddress& server, const std::string& name,
                                      uint16_t type, bool over_tcp, const std::string& source,
                                      std::chrono::milliseconds timeout, bool edns) {
  static uint16_t next_id = 0x1234;
  dns::Message q;
  q.id = next_id++;
  q.rd = true;
  q.questions.push_back({name, type, dns::kClassIN});
  if (edns) {
    q.edns_udp_size = 1232;
  }
  std::string wire = dns::Serialize(q);
  std::string answer;
  if (!over_tcp) {
    auto a = UdpExchange(server, wire, source, timeout);
    if (!a.ok()) {
      return a.status();
    }
    answer = *a;
  } else {
    auto fd = ConnectFrom(source, server, timeout);
    if (!fd.ok()) {
      return fd.status();
    }
    std::string framed;
    framed.push_back(static_cast<char>(wire.size() >> 8));
    framed.push_back(static_cast<char>(wire.size() & 0xFF));
    framed += wire;
    if (!SendAll(fd->get(), framed)) {
      return absl::InternalError("send");
    }
    std::string in;
    char buf[4096];
    while (true) {
      if (in.size() >= 2) {
        size_t len = (static_cast<uint8_t>(in[0]) << 8) | static_cast<uint8_t>(in[1]);
        if (in.size() >= 2 + len) {
          answer = in.substr(2, len);
          break;
        }
      }
      ssize_t n = recv(fd->get(), buf, sizeof buf, 0);
      if (n <= 0) {
        return absl::DeadlineExceededError("no DNS answer over TCP");
      }
      in.append(buf, n);
    }
  }
  auto m = dns::Parse(answer);
  if (!m.ok()) {
    return m.status();
  }
  if (m->id != q.id) {
    return absl::InternalError("DNS id mismatch");
  }
  return m;
}

}  // namespace sonde::faultd::testing
