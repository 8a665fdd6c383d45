// SessionHost: what a connection (a "session") needs from the server that
// owns it, as an interface so sessions do not depend on FaultServer. Also
// RuleMatch, the result of one rule decision, which keeps its RuleSet alive
// and counts outcomes against the right rule and generation.
//
// Every SessionHost method is called on the loop thread.
#ifndef SONDE_TESTS_FAULTD_SESSION_HOST_H_
#define SONDE_TESTS_FAULTD_SESSION_HOST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/event_loop.h"
#include "common/tls/openssl_handles.h"
#include "tests/faultd/http_request.h"
#include "tests/faultd/rules.h"
#include "tests/faultd/stats.h"

namespace sonde::faultd {

class StreamConnection;
class ClientHelloHandler;

// One decision: the rule that matched (or the defaults) in the rule set that
// was current. Cheap to copy.
struct RuleMatch {
  std::shared_ptr<const RuleSet> rules;
  const Rule* rule = nullptr;  // owned by *rules; never null once decided
  ListenerKind listener = ListenerKind::kHttp;
  Stats* stats = nullptr;

  const Rule* operator->() const { return rule; }
  const Rule& operator*() const { return *rule; }
  bool decided() const { return rule != nullptr; }
  void Count(absl::string_view counter) const {
    stats->Add(listener, rules->generation(), rule->index, counter);
  }
  bool NextRequestFails(double share, std::optional<uint64_t> seed = std::nullopt) const {
    return stats->NextRequestFails(rules->generation(), rule->index, share, seed);
  }
};

struct ControlResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

struct SessionLimits {
  HttpLimits http;
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration linger = absl::Seconds(2);  // wait for the client's FIN after ours
};

class SessionHost {
 public:
  virtual ~SessionHost() = default;

  virtual common::EventLoop& loop() = 0;
  virtual const SessionLimits& limits() const = 0;
  virtual Stats& counters() = 0;
  virtual std::shared_ptr<const RuleSet> CurrentRules() = 0;
  // The first rule matching `ctx` in the current rule set.
  RuleMatch Decide(const MatchContext& ctx) {
    RuleMatch m;
    m.rules = CurrentRules();
    m.rule = &m.rules->Match(ctx);
    m.listener = ctx.listener;
    m.stats = &counters();
    return m;
  }
  // A server-side TLS session on `fd`; `handler` is asked at ClientHello.
  virtual absl::StatusOr<common::UniqueSsl> NewTlsSession(int fd, ClientHelloHandler* handler) = 0;
  // Requests on the control listener.
  virtual ControlResponse HandleControl(const HttpRequest& request) = 0;
  // `conn` closed: the host drops its reference (the connection may be
  // destroyed once its current callback returns).
  virtual void ConnectionClosed(StreamConnection* conn) = 0;
};

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_SESSION_HOST_H_
