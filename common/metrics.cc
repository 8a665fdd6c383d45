#include "common/metrics.h"

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/net.h"

namespace sonde::common {

void MetricsText::Add(const std::string& name, const std::string& type, const std::string& help,
                      double value, const std::string& labels) {
  absl::StrAppend(&text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name,
                  labels.empty() ? "" : absl::StrCat("{", labels, "}"), " ", value, "\n");
}

MetricsServer::MetricsServer() : server_(std::make_unique<httplib::Server>()) {}

MetricsServer::~MetricsServer() { Stop(); }

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

absl::Status MetricsServer::Start(const std::string& listen, Render render) {
  server_->Get("/metrics", [render](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4");
  });
  absl::StatusOr<int> port = BindHttpServer(server_.get(), listen);
  if (!port.ok()) {
    return absl::Status(port.status().code(), absl::StrCat("metrics: ", port.status().message()));
  }
  port_ = *port;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void MetricsServer::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace sonde::common
