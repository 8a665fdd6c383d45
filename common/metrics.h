// Prometheus text exposition: a small builder for the /metrics page and an
// HTTP server (cpp-httplib, its own threads) that serves whatever a callback
// returns. The callback runs on the server's threads: it must only read
// thread-safe state (atomics, or stats snapshots taken under a lock).
// The builder spells values and label values as the text format (0.0.4)
// wants; names and help texts are the caller's constants. docs/metrics.md
// lists every series both daemons export.
#ifndef SONDE_COMMON_METRICS_H_
#define SONDE_COMMON_METRICS_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/http_server.h"

namespace sonde::common {

// A label value for between the double quotes of `name="..."`: backslash,
// double quote and newline escaped (`\\`, `\"`, `\n`), invalid UTF-8 and NUL
// bytes replaced. Label values from config or probers go through it.
std::string EscapeLabelValue(absl::string_view value);

// `name="escaped value"`, for building a label list.
std::string Label(absl::string_view name, absl::string_view value);

// A sample value as the text format spells it: integral values exactly
// (a counter past a million stays exact), others shortest round-trip, and
// +Inf, -Inf, NaN.
std::string FormatSampleValue(double value);

class MetricsText {
 public:
  // One metric family; `type` is counter or gauge. `labels` like `region="fra"`.
  void Add(const std::string& name, const std::string& type, const std::string& help, double value,
           const std::string& labels = "");
  // One metric family with a sample per label set (none: the family is
  // still described, so a scraper sees it exists).
  void AddSamples(const std::string& name, const std::string& type, const std::string& help,
                  const std::vector<std::pair<std::string, double>>& labelled_values);
  // The `# HELP` and `# TYPE` lines of a family whose samples follow
  // (Sample); type is counter, gauge or histogram.
  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  // One sample line; `labels` is a built label list (Label) or empty.
  void Sample(absl::string_view name, absl::string_view labels, double value);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  // Decides from a request's Authorization header whether it may read the
  // page: UNAUTHENTICATED answers 401, PERMISSION_DENIED 403.
  using Gate = std::function<absl::Status(const std::string& authorization)>;
  // Requests must pass `gate` (default: everyone may read). Before Start().
  void set_gate(Gate gate) { gate_ = std::move(gate); }
  // Serves GET /metrics on `listen` (HOST:PORT). Returns once bound.
  absl::Status Start(const std::string& listen, Render render);
  void Stop() { server_.Stop(); }
  int port() const { return server_.port(); }

 private:
  HttpServer server_;
  Gate gate_;
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_METRICS_H_
