// sonde-faultd: the fault target server (see README.md). Thin: flags, files,
// signals; the server is FaultServer.
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/flags.h"
#include "common/logging.h"
#include "spdlog/spdlog.h"
#include "tests/faultd/fault_server.h"

namespace {

constexpr char kUsage[] = R"(sonde-faultd [flags]

A fault target server for Sonde's tests, on loopback only. Its listeners
(HTTP, HTTPS, TLS-only, TCP banner, DNS over UDP+TCP, gRPC health) misbehave as the current
rules say, per client source address, so probers bound to 127.0.0.2/.3/.4 see
different worlds. Rules come from --rules FILE and can be replaced at any time
with PUT /rules on the control listener; GET /stats tells what happened.

Listeners take ADDR:PORT on loopback (127.0.0.0/8 or [::1]; a bare PORT means
127.0.0.1); port 0 picks a free port (see --ports-file). With no listener flag
at all, http, https, tcp, dns and control start on 127.0.0.1:0.

Rules: a JSON list, first match wins. Match fields (all optional):
  listener   http | https | tls | tcp | dns | grpc
  source     client address or prefix: "127.0.0.3", "127.0.0.0/30"
  path_prefix, host   (http/https)      sni  (https/tls)      name  (dns)
  service    (grpc: the service a Health/Check names; "" = the server)
Behaviour fields:
  http/https status, body, headers{}, fail_share (0..1, deterministic),
             fail_status, delay_headers_ms, delay_body_ms, trickle_bps,
             endless_body, body_bytes, reset, reset_on_accept, close,
             blackhole, redirect
  https/tls  cert (valid expired not_yet_valid wrong_host self_signed garbled_names
             expiring), handshake_fail (alert close garbage), max_version
             (TLS1 TLS1.1 TLS1.2 TLS1.3)
  tcp        banner (default "SSH-2.0-OpenSSH_9.2\r\n"), banner_delay_ms,
             respond, echo, reset, close, blackhole
  dns        rcode (NOERROR NXDOMAIN SERVFAIL REFUSED), records
             [{"type","data","ttl"}], nodata, truncate, drop, delay_ms,
             negative_ttl, zone   (names no rule matches are REFUSED)
  grpc       serving_status (SERVING NOT_SERVING UNKNOWN SERVICE_UNKNOWN),
             grpc_status (UNAVAILABLE, INTERNAL, ... instead of an answer),
             grpc_message, delay_ms
Examples:
  [{"listener":"http","source":"127.0.0.3","path_prefix":"/login",
    "fail_share":0.3},
   {"listener":"https","sni":"old.test","cert":"expired"},
   {"listener":"tcp","banner":"220 mail.test ESMTP\r\n"},
   {"listener":"dns","name":"app.example.test","source":"127.0.0.2",
    "rcode":"NXDOMAIN"},
   {"listener":"dns","name":"app.example.test",
    "records":[{"type":"A","data":"127.0.0.1","ttl":30}]}]

Control listener: GET/PUT /rules, GET /stats, POST /reset-stats, GET /ports,
GET /ca.pem. Example:
  curl -X PUT --data-binary @rules.json http://127.0.0.1:PORT/rules

SIGTERM or SIGINT stop it cleanly. Exit status: 0 after a signal, 1 when the
server cannot start, 2 on a usage error.)";

// Writes `content` to `path` via a temporary file and rename(), so readers
// never see a partial file.
bool WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  FILE* f = fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    return false;
  }
  bool ok = fwrite(content.data(), 1, content.size(), f) == content.size();
  ok = fflush(f) == 0 && ok;
  ok = fsync(fileno(f)) == 0 && ok;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

void RaiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  sonde::faultd::FaultServerOptions opt;
  std::string rules_file, ports_file, ca_out, log_level = "info";
  std::vector<std::string> cert_names;
  int64_t max_connections = opt.max_connections;
  absl::Duration idle_timeout = opt.limits.idle_timeout;

  sonde::common::FlagSet flags("sonde-faultd", kUsage);
  flags.String("http-listen", &opt.http_listen, "HTTP/1.1 listener, e.g. 127.0.0.1:0.");
  flags.String("https-listen", &opt.https_listen,
               "HTTP/1.1 over TLS; the certificate is chosen per rule at ClientHello.");
  flags.String("tls-listen", &opt.tls_listen,
               "TLS-only listener: handshake (certificate/version/failure per rule),\n"
               "then silence. For TLS checks.");
  flags.String("tcp-listen", &opt.tcp_listen,
               "Raw TCP listener: banner, optional respond/echo per line.");
  flags.String("dns-listen", &opt.dns_listen, "DNS over UDP and TCP on the same port.");
  flags.String("control-listen", &opt.control_listen,
               "Control HTTP endpoint: GET/PUT /rules, GET /stats, POST /reset-stats.");
  flags.String("blackhole-listen", &opt.blackhole_listen,
               "A TCP port whose accept queue faultd keeps full, so new connects\n"
               "time out (TCP_TIMEOUT) instead of being refused.");
  flags.String("grpc-listen", &opt.grpc_listen,
               "gRPC health listener (grpc.health.v1.Health/Check), plain text.");
  flags.String("grpcs-listen", &opt.grpcs_listen,
               "The same gRPC health service over TLS (the `valid` certificate).");
  flags.String("rules", &rules_file,
               "JSON rules file loaded at start (same format as PUT /rules).");
  flags.String("ports-file", &ports_file,
               "After binding, write {\"http\":PORT,...} here (temp file + rename).");
  flags.String("ca-out", &ca_out, "Write the PEM of the CA that signed the served certificates.");
  flags.List("cert-names", &cert_names,
             "Extra DNS names (comma-separated, repeatable) in the SAN of the\n"
             "valid, expiring and self_signed certificates.");
  flags.Int("max-connections", &max_connections,
            "Stream connections at once; more are closed right after accept.");
  flags.Duration("idle-timeout", &idle_timeout,
                 "Close connections that send no complete request for this long\n"
                 "(blackholed connections are exempt).");
  flags.String("log-level", &log_level, "trace, debug, info, warn or error.");

  auto positional = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (!positional.ok()) {
    fprintf(stderr, "sonde-faultd: %s\n", std::string(positional.status().message()).c_str());
    return 2;
  }
  if (!positional->empty()) {
    fprintf(stderr, "sonde-faultd: unexpected argument \"%s\" (see --help)\n",
            (*positional)[0].c_str());
    return 2;
  }
  if (max_connections < 1 || max_connections > 1000000) {
    fprintf(stderr, "sonde-faultd: --max-connections must be 1..1000000\n");
    return 2;
  }
  if (idle_timeout <= absl::ZeroDuration()) {
    fprintf(stderr, "sonde-faultd: --idle-timeout must be positive\n");
    return 2;
  }
  opt.max_connections = static_cast<int>(max_connections);
  opt.limits.idle_timeout = idle_timeout;
  for (const std::string& list : cert_names) {
    for (absl::string_view n : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      opt.cert_names.emplace_back(n);
    }
  }
  if (opt.http_listen.empty() && opt.https_listen.empty() && opt.tls_listen.empty() &&
      opt.tcp_listen.empty() && opt.dns_listen.empty() && opt.control_listen.empty() &&
      opt.blackhole_listen.empty() && opt.grpc_listen.empty() && opt.grpcs_listen.empty()) {
    opt.http_listen = opt.https_listen = opt.tcp_listen = opt.dns_listen = opt.control_listen =
        "127.0.0.1:0";
  }
  sonde::common::InitLogging("sonde-faultd", log_level);
  if (!rules_file.empty()) {
    std::ifstream in(rules_file);
    if (!in) {
      fprintf(stderr, "sonde-faultd: --rules: cannot read %s\n", rules_file.c_str());
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    opt.rules_json = ss.str();
    auto check = sonde::faultd::RuleSet::FromJson(opt.rules_json);
    if (!check.ok()) {
      fprintf(stderr, "sonde-faultd: %s: %s\n", rules_file.c_str(),
              std::string(check.status().message()).c_str());
      return 2;
    }
  }

  RaiseFileLimit();
  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  sonde::faultd::FaultServer server(std::move(opt));
  absl::Status st = server.Start();
  if (!st.ok()) {
    spdlog::error("cannot start: {}", st.ToString());
    return st.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (!ca_out.empty() && !WriteFileAtomically(ca_out, server.ca_pem())) {
    spdlog::error("--ca-out: cannot write {}", ca_out);
    return 1;
  }
  if (!ports_file.empty() && !WriteFileAtomically(ports_file, server.ports().ToJson() + "\n")) {
    spdlog::error("--ports-file: cannot write {}", ports_file);
    return 1;
  }
  spdlog::info("listening on 127.0.0.1 ports {}", server.ports().ToJson());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {}: stopping", sig);
  server.Stop();
  return 0;
}
