#include "common/metrics.h"

#include <httplib.h>

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/text/safe_text.h"

namespace sonde::common {

std::string EscapeLabelValue(absl::string_view value) {
  const std::string clean = IsCleanUtf8(value) ? std::string(value) : SanitizeUtf8(value);
  std::string out;
  out.reserve(clean.size());
  for (char c : clean) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Label(absl::string_view name, absl::string_view value) {
  return absl::StrCat(name, "=\"", EscapeLabelValue(value), "\"");
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  if (value == std::trunc(value) && std::fabs(value) < 9.007199254740992e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return ec == std::errc() ? std::string(buf, end) : absl::StrCat(value);
}

void MetricsText::Family(absl::string_view name, absl::string_view type, absl::string_view help) {
  absl::StrAppend(&text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void MetricsText::Sample(absl::string_view name, absl::string_view labels, double value) {
  absl::StrAppend(&text_, name, labels.empty() ? "" : "{", labels, labels.empty() ? "" : "}", " ",
                  FormatSampleValue(value), "\n");
}

void MetricsText::Add(const std::string& name, const std::string& type, const std::string& help,
                      double value, const std::string& labels) {
  Family(name, type, help);
  Sample(name, labels, value);
}

void MetricsText::AddSamples(const std::string& name, const std::string& type,
                             const std::string& help,
                             const std::vector<std::pair<std::string, double>>& labelled_values) {
  Family(name, type, help);
  for (const auto& [labels, value] : labelled_values) {
    Sample(name, labels, value);
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
