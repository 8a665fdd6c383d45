#include "common/http_server.h"

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/net.h"

namespace sonde::common {

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

HttpServer::HttpServer() : server_(std::make_unique<httplib::Server>()) {}

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
