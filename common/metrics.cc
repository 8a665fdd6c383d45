#include "common/metrics.h"

#include <httplib.h>

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

absl::Status MetricsServer::Start(const std::string& listen, Render render) {
  auto hp = ParseHostPort(listen, 0);
  if (!hp.ok()) return hp.status();
  server_->Get("/metrics", [render](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4");
  });
  port_ = hp->port == 0 ? server_->bind_to_any_port(hp->host)
                        : (server_->bind_to_port(hp->host, hp->port) ? hp->port : -1);
  if (port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", listen));
  }
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
