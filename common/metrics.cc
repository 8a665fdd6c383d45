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
  server_.routes().Get("/metrics", [render](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4");
  });
  return server_.Start(listen, "metrics");
}

}  // namespace sonde::common
