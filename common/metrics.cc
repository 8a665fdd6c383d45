#include "common/metrics.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"

namespace sonde::common {

void MetricsText::Add(const std::string& name, const std::string& type, const std::string& help,
                      double value, const std::string& labels) {
  absl::StrAppend(&text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name,
                  labels.empty() ? "" : absl::StrCat("{", labels, "}"), " ", value, "\n");
}

void MetricsText::AddSamples(const std::string& name, const std::string& type,
                             const std::string& help,
                             const std::vector<std::pair<std::string, double>>& labelled_values) {
  absl::StrAppend(&text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  for (const auto& [labels, value] : labelled_values) {
    absl::StrAppend(&text_, name, labels.empty() ? "" : absl::StrCat("{", labels, "}"), " ",
                    value, "\n");
  }
}

absl::Status MetricsServer::Start(const std::string& listen, Render render) {
  server_.routes().Get("/metrics",
                       [render, gate = gate_](const httplib::Request& req, httplib::Response& res) {
                         if (gate != nullptr) {
                           absl::Status st = gate(req.get_header_value("Authorization"));
                           if (!st.ok()) {
                             res.status = absl::IsPermissionDenied(st) ? 403 : 401;
                             res.set_content(std::string(st.message()) + "\n", "text/plain");
                             return;
                           }
                         }
                         res.set_content(render(), "text/plain; version=0.0.4");
                       });
  return server_.Start(listen, "metrics");
}

}  // namespace sonde::common
