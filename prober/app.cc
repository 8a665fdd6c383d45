#include "prober/app.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config/config.h"
#include "common/event_loop.h"
#include "common/flags.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/net.h"
#include "common/probe_policy.h"
#include "common/result_json.h"
#include "common/systemd/notify.h"
#include "common/text/safe_text.h"
#include "common/tls/credentials.h"
#include "common/version/version.h"
#include "prober/io/curl_multi.h"
#include "prober/io/dns_resolver.h"
#include "prober/probes/registry.h"
#include "prober/probes/result_text.h"
#include "prober/sched/scheduler.h"
#include "prober/uplink/config_client.h"
#include "prober/uplink/spool.h"
#include "prober/uplink/uplink.h"

namespace sonde::prober {
namespace {

constexpr char kUsage[] =
    R"(sonde-prober: runs HTTP, TLS, TCP, DNS, ICMP echo and gRPC health checks and
streams every result to the Sonde collector over gRPC.

Usage:
  sonde-prober --region fra --collector HOST:PORT
      Daemon, centrally configured: the collector sends the checks of region
      "fra" and pushes changes.
  sonde-prober --region fra --collector HOST:PORT --config sonde.yaml
      Daemon, standalone config: runs the checks of "fra" from the file
      (SIGHUP re-reads it; a bad file is refused and the old one kept);
      results still go to the collector.
  sonde-prober --config sonde.yaml --once [--region fra]
      Runs every check once (only those of --region when given), prints one
      JSON object per result on stdout and exits: 0 when all passed, 1 when
      any failed, 2 on a usage or config error.

SIGTERM or SIGINT stops the daemon; it first tries for up to 3 s to get the
results it holds acknowledged by the collector. Under systemd (Type=notify)
it reports READY=1 once its config is loaded, WATCHDOG=1 from its event loop
at half of WatchdogSec and STOPPING=1 when it begins to stop.)";

std::string DefaultProberId(const std::string& region) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return region.empty() ? std::string(host) : absl::StrCat(host, "-", region);
}

class SignalFd {
 public:
  SignalFd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    // Blocked before any thread starts, so gRPC's threads inherit the mask.
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~SignalFd() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  int fd() const { return fd_; }
  int Read() {
    signalfd_siginfo info;
    if (read(fd_, &info, sizeof info) != sizeof info) {
      return 0;
    }
    return static_cast<int>(info.ssi_signo);
  }

 private:
  int fd_ = -1;
};

std::string Millis(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

// Keeps the last central config beside the spool, owner only (its checks
// may carry header secrets): written to a temporary file, then renamed.
absl::Status StoreConfig(const std::string& serialized, const std::string& path) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(strerror(errno));
  }
  (void)fchmod(fd, 0600);  // a .tmp left by an older version
  absl::Status written = WriteAll(fd, serialized, tmp);
  close(fd);
  if (!written.ok()) {
    return written;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(strerror(errno));
  }
  return absl::OkStatus();
}

// The loopback-only rule for --metrics-listen: another host may read the
// page only with a bearer token (--metrics-token-file), which `metrics` then
// requires, or with --insecure.
absl::Status GateMetrics(const std::string& listen, const std::string& token_file, bool insecure,
                         common::MetricsServer* metrics) {
  std::string token;
  if (!token_file.empty()) {
    absl::StatusOr<std::string> text = common::ReadTextFile("--metrics-token-file", token_file);
    if (!text.ok()) {
      return text.status();
    }
    token = std::string(absl::StripAsciiWhitespace(*text));
    if (token.size() < 16) {
      return absl::InvalidArgumentError("--metrics-token-file: the token needs 16+ characters");
    }
    metrics->set_gate([expected = "Bearer " + token](const std::string& authorization) {
      return common::SameSecret(authorization, expected)
                 ? absl::OkStatus()
                 : absl::UnauthenticatedError("a bearer token is required");
    });
  }
  if (!listen.empty() && !common::IsLoopbackHost(listen) && token.empty() && !insecure) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen: refusing to serve ", listen,
                     " to other hosts without a token: give --metrics-token-file FILE, or "
                     "--insecure, or listen on a loopback address"));
  }
  return absl::OkStatus();
}

// LoadConfigFile on a thread of its own. glibc serves a new thread from
// another malloc arena, so the YAML document and the parsed config live
// apart from what the prober keeps: the caller copies the checks out and
// frees the config, and the parse's memory goes back as a whole
// (malloc_trim in Scheduler::SetChecks) instead of leaving holes between
// the checks. At 100,000 checks those holes were ~40 MiB of RSS.
absl::StatusOr<v1::Config> LoadConfigApart(const std::string& path) {
  absl::StatusOr<v1::Config> config;
  std::thread parse([&] { config = common::LoadConfigFile(path); });
  parse.join();
  return config;
}

}  // namespace

int RunProber(int argc, char** argv) {
  std::string region, prober_id, collector, config_path, source_address;
  std::string spool_dir;
  int64_t spool_max_mib = 512;
  common::ClientSecurity security;
  bool once = false;
  common::FlagSet flags("sonde-prober", kUsage);
  flags.String("region", &region,
               "Region this prober runs in (e.g. fra). Required for the daemon.");
  flags.String("prober-id", &prober_id,
               "Stable identity of this prober (default: host name + \"-\" + region).\n"
               "Printable text of at most 128 bytes, like --region.");
  flags.String("collector", &collector,
               "Collector address HOST:PORT (gRPC), or several replicas of one collector\n"
               "sharing a database, in order of preference: a:7600,b:7600 (or a name with\n"
               "several addresses). The stream fails over to the next and returns to the\n"
               "first once it is back; no result is lost or stored twice.");
  flags.String("config", &config_path,
               "YAML config file. Without it the daemon takes its checks from the collector.");
  flags.Bool("once", &once, "Run every check once, print JSON lines, exit.");
  flags.String("source-address", &source_address,
               "Local IP address probes are sent from (e.g. 127.0.0.2), which lets one host\n"
               "act as several regions.");
  flags.String("spool-dir", &spool_dir,
               "Directory where results wait until the collector acknowledges them; they\n"
               "survive collector outages and prober restarts. Without it unacked results\n"
               "are kept in memory only and lost if the prober dies.");
  flags.Int("spool-max-mib", &spool_max_mib,
            "Spool size cap in MiB; past it the oldest results are dropped and the loss\n"
            "is reported to the collector as a gap.");
  flags.String("tls-ca", &security.tls_ca,
               "CA (PEM) of the collector's certificate: talk to the collector over TLS.");
  flags.String("tls-cert", &security.tls_cert,
               "This prober's client certificate (PEM, mTLS). Its CN is the prober id and\n"
               "its OU the region, which --prober-id and --region then default to.");
  flags.String("tls-key", &security.tls_key, "Private key of --tls-cert.");
  flags.String("token-file", &security.token_file,
               "File holding this prober's bearer token (the weaker alternative to a\n"
               "client certificate).");
  flags.Bool("insecure", &security.insecure,
             "Allow plaintext to a collector that is not on loopback.");
  std::string metrics_listen;
  flags.String("metrics-listen", &metrics_listen,
               "Serve Prometheus metrics at http://HOST:PORT/metrics: results spooled, sent,\n"
               "acked, dropped, duplicates, reconnects, spool bytes, oldest unacked age.");
  std::string metrics_token_file;
  flags.String("metrics-token-file", &metrics_token_file,
               "File holding a bearer token that /metrics then requires (Prometheus:\n"
               "authorization.credentials_file). --metrics-listen on an address that is\n"
               "not loopback needs it, or --insecure.");
  common::DaemonFlags daemon;
  daemon.Register(&flags);
  auto args = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  auto usage_error = [](const std::string& msg) {
    std::cerr << "sonde-prober: " << msg << "\n";
    return 2;
  };
  if (!args.ok()) {
    return usage_error(std::string(args.status().message()));
  }
  if (daemon.version) {
    std::cout << common::VersionLine("sonde-prober") << "\n";
    return 0;
  }
  absl::StatusOr<common::LogFormat> format = common::ParseLogFormat(daemon.log_format);
  if (!format.ok()) {
    return usage_error(absl::StrCat("--log-format: ", format.status().message()));
  }
  if (!args->empty()) {
    return usage_error(absl::StrCat("unexpected argument \"", (*args)[0], "\""));
  }
  if (once && config_path.empty()) {
    return usage_error("--once needs --config FILE");
  }
  if (!security.tls_cert.empty()) {
    // The certificate names the prober: CN = prober id, OU = region.
    auto pem = common::ReadTextFile("--tls-cert", security.tls_cert);
    if (!pem.ok()) {
      return usage_error(std::string(pem.status().message()));
    }
    auto id = common::ReadCertificateIdentity(*pem);
    if (!id.ok()) {
      return usage_error(absl::StrCat("--tls-cert: ", id.status().message()));
    }
    if (region.empty()) {
      region = id->organizational_unit;
    }
    if (prober_id.empty()) {
      prober_id = id->common_name;
    }
    if (region != id->organizational_unit || prober_id != id->common_name) {
      return usage_error(absl::StrCat("--tls-cert is for prober \"", id->common_name,
                                      "\" in region \"", id->organizational_unit,
                                      "\"; --prober-id/--region say otherwise"));
    }
  }
  if (!once && region.empty()) {
    return usage_error("--region is required (or use --once)");
  }
  if (!once && collector.empty()) {
    return usage_error("--collector HOST:PORT is required");
  }
  std::vector<std::string> collectors;
  if (!collector.empty()) {
    absl::StatusOr<std::vector<std::string>> parsed = ParseCollectorList(collector);
    if (!parsed.ok()) {
      return usage_error(absl::StrCat("--collector: ", parsed.status().message()));
    }
    collectors = *std::move(parsed);
  }
  if (!source_address.empty() && !common::IsIpLiteral(source_address)) {
    return usage_error(
        absl::StrCat("--source-address \"", source_address, "\" is not an IP address"));
  }
  common::MetricsServer metrics;
  if (absl::Status st =
          GateMetrics(metrics_listen, metrics_token_file, security.insecure, &metrics);
      !st.ok()) {
    return usage_error(std::string(st.message()));
  }
  if (spool_max_mib < 1) {
    return usage_error("--spool-max-mib must be at least 1");
  }
  if (prober_id.empty()) {
    prober_id = DefaultProberId(region);
  }
  // Every result carries both as they are (result_stamp.h): printable text.
  for (const auto& [flag, value] : {std::pair<const char*, const std::string&>{"--region", region},
                                    {"--prober-id", prober_id}}) {
    if (value.size() > 128 || SafeText(value) != value) {
      return usage_error(absl::StrCat(flag, " \"", SafeText(value, 160),
                                      "\" must be printable UTF-8 text of at most 128 bytes"));
    }
  }
  common::InitLogging(
      "sonde-prober",
      once ? (daemon.log_level == "info" ? "warn" : daemon.log_level) : daemon.log_level, *format);

  v1::Config config;
  if (!config_path.empty()) {
    auto loaded = LoadConfigApart(config_path);
    if (!loaded.ok()) {
      std::cerr << loaded.status().message() << "\n";
      return 2;
    }
    config = *std::move(loaded);
    if (!region.empty() && !config.regions().empty() &&
        std::find(config.regions().begin(), config.regions().end(), region) ==
            config.regions().end()) {
      return usage_error(absl::StrCat("region \"", region, "\" is not in ", config_path,
                                      " (regions: ", absl::StrJoin(config.regions(), ", "), ")"));
    }
  }

  // A peer that closes early must end one probe, never the prober.
  signal(SIGPIPE, SIG_IGN);
  SignalFd signals;
  common::EventLoop loop;
  if (auto st = loop.Init(); !st.ok()) {
    spdlog::error("event loop: {}", st.message());
    return 1;
  }
  auto resolver = DnsResolver::Create(&loop, source_address);
  auto curl = CurlMulti::Create(&loop);
  if (!resolver.ok() || !curl.ok()) {
    spdlog::error("startup failed: {} {}", resolver.status().message(), curl.status().message());
    return 1;
  }
  // The probe policy of the running config, replaced on the loop thread.
  common::ProbePolicy policy;
  // Result messages go round between the probes and the scheduler instead
  // of being made and freed per run.
  ResultPool result_pool;
  ProbeEnv env{&loop, resolver->get(), curl->get(), source_address, &policy, &result_pool};
  auto set_policy = [&policy](const v1::ProbePolicy& spec) {
    absl::StatusOr<common::ProbePolicy> made = common::ProbePolicy::Create(spec);
    if (made.ok()) {
      policy = *std::move(made);
      return;
    }
    // Fail closed: a policy this prober cannot read must not mean "off".
    spdlog::error("probe_policy: {}; every probe is refused until a readable one arrives",
                  made.status().message());
    policy = common::ProbePolicy::DenyAll("the configured probe_policy is unreadable");
  };
  set_policy(config.probe_policy());

  std::unique_ptr<Uplink> uplink;
  std::string bearer_token;
  std::shared_ptr<CollectorTargets> targets;
  if (!once) {
    Uplink::Options uo;
    uo.prober_id = prober_id;
    uo.region = region;
    uo.spool_dir = spool_dir;
    uo.version = common::kVersion;
    uo.spool_max_bytes = static_cast<uint64_t>(spool_max_mib) << 20;
    std::vector<CollectorTargets::Target> list;
    for (const std::string& address : collectors) {
      auto creds = common::MakeClientCredentials(security, address);
      if (!creds.ok()) {
        return usage_error(std::string(creds.status().message()));
      }
      bearer_token = creds->bearer_token;
      // The channel reconnects on the Uplink's schedule (uplink.h).
      list.push_back({address, grpc::CreateCustomChannel(address, creds->channel,
                                                         Uplink::ChannelArguments(uo))});
    }
    uo.bearer_token = bearer_token;
    targets = std::make_shared<CollectorTargets>(std::move(list));
    auto created = Uplink::Create(targets, uo);
    if (!created.ok()) {
      std::cerr << "sonde-prober: " << created.status().message() << "\n";
      return 1;
    }
    uplink = *std::move(created);
    uplink->Start();
  }

  std::vector<v1::ProbeResult> once_results;
  Scheduler::Options sched_opts;
  sched_opts.prober_id = prober_id;
  sched_opts.region = region;
  auto scheduler = std::make_unique<Scheduler>(
      &loop, common::RealClock(), [&env](const v1::Check& c) { return MakeProbe(c, &env); },
      [&](const ResultStamp& stamp, v1::ProbeResult& r) {
        if (once) {
          ApplyStamp(stamp, &r);
          once_results.push_back(r);
        } else {
          uplink->Add(stamp, &r);  // serialised there; the message goes back to the pool
        }
      },
      sched_opts);
  if (uplink) {
    // Batches then say which results are complete (complete_before), so the
    // collector's detection need not wait out its reorder window for them.
    scheduler->set_running_since_sink([&uplink](absl::Time t) { uplink->set_running_since(t); });
  }

  auto checks_for = [&](const v1::Config& c) {
    return region.empty() ? std::vector<v1::Check>(c.checks().begin(), c.checks().end())
                          : common::ChecksForRegion(c, region);
  };

  if (once) {
    std::vector<v1::Check> checks = checks_for(config);
    scheduler->SetChecks(checks);
    scheduler->RunOnce([&] { loop.Stop(); });
    loop.Run();
    // Config order, then request order: stable output for people and diffs.
    std::map<std::string, size_t> order;
    for (size_t i = 0; i < checks.size(); ++i) {
      order[checks[i].name()] = i;
    }
    std::stable_sort(once_results.begin(), once_results.end(),
                     [&](const v1::ProbeResult& a, const v1::ProbeResult& b) {
                       return std::make_pair(order[a.check_id()], a.request_index()) <
                              std::make_pair(order[b.check_id()], b.request_index());
                     });
    bool all_ok = true;
    for (v1::ProbeResult& r : once_results) {
      r.set_seq(&r - once_results.data() + 1);
      std::cout << common::ToJsonLine(r) << "\n";
      all_ok &= r.ok();
    }
    std::cout.flush();
    return all_ok ? 0 : 1;
  }

  std::unique_ptr<ConfigClient> config_client;
  if (!config_path.empty()) {
    // Copied out (LoadConfigApart), then the config is freed before the
    // scheduler takes the checks; SIGHUP reads the file again.
    std::vector<v1::Check> checks = checks_for(config);
    config = v1::Config();
    scheduler->SetChecks(std::move(checks));
    spdlog::info("prober {} region {}: {} checks from {}, results to {}", prober_id, region,
                 scheduler->stats().checks, config_path, collector);
  } else {
    v1::ProberHello hello;
    hello.set_prober_id(prober_id);
    hello.set_region(region);
    hello.set_version(common::kVersion);
    // The last config received is kept beside the spool, so a prober that
    // starts while the collector is unreachable still probes.
    std::string stored_path = spool_dir.empty() ? "" : spool_dir + "/config.pb";
    v1::ProberConfig stored;
    if (!stored_path.empty()) {
      (void)chmod(stored_path.c_str(), 0600);  // one an older version wrote 0644
      std::ifstream in(stored_path, std::ios::binary);
      if (in && stored.ParseFromIstream(&in)) {
        set_policy(stored.probe_policy());
        scheduler->SetChecks(
            std::vector<v1::Check>(stored.checks().begin(), stored.checks().end()));
        spdlog::info("using the stored config {} ({} checks) until the collector answers",
                     stored.version(), stored.checks_size());
      } else {
        stored.Clear();
      }
    }
    config_client = std::make_unique<ConfigClient>(
        targets, hello, bearer_token, [&, stored_path](v1::ProberConfig pc) {
          const absl::Time received = absl::Now();
          auto shared = std::make_shared<const v1::ProberConfig>(std::move(pc));
          loop.Post([&, shared, received] {
            const v1::ProberConfig& pc = *shared;
            const absl::Time start = absl::Now();
            set_policy(pc.probe_policy());
            scheduler->SetChecks(std::vector<v1::Check>(pc.checks().begin(), pc.checks().end()));
            spdlog::info("config {}: {} checks scheduled {} after it was complete (SetChecks {})",
                         pc.version(), pc.checks_size(), Millis(absl::Now() - received),
                         Millis(absl::Now() - start));
          });
          // Stored while the loop schedules it: probing the new version
          // does not wait for the disk.
          if (!stored_path.empty()) {
            if (absl::Status st = StoreConfig(shared->SerializeAsString(), stored_path); !st.ok()) {
              spdlog::warn("cannot store the config in {}: {}", stored_path, st.message());
            }
          }
        });
    config_client->set_on_delta([&, stored_path](ConfigClient::Delta d) {
      const absl::Time received = absl::Now();
      auto shared = std::make_shared<ConfigClient::Delta>(std::move(d));
      loop.Post([&, shared, received] {
        const absl::Time start = absl::Now();
        set_policy(shared->policy);
        const size_t changed = shared->changed.size();
        scheduler->UpdateChecks(std::move(shared->changed), shared->removed);
        spdlog::info(
            "config {}: {} checks changed, {} removed, scheduled {} after it was complete "
            "(UpdateChecks {})",
            shared->version, changed, shared->removed.size(), Millis(absl::Now() - received),
            Millis(absl::Now() - start));
      });
      if (!stored_path.empty()) {
        // `whole` is not touched by the loop's task.
        if (absl::Status st = StoreConfig(shared->whole, stored_path); !st.ok()) {
          spdlog::warn("cannot store the config in {}: {}", stored_path, st.message());
        }
      }
    });
    config_client->set_running(stored);
    stored.Clear();
    config_client->Start();
    spdlog::info("prober {} region {}: waiting for checks from collector {}", prober_id, region,
                 collector);
  }

  // Scheduler stats live on the loop thread; a timer copies them for /metrics.
  // The timer's own delay is the loop's lag: how late the loop runs what is due.
  struct LoopStats {
    std::atomic<uint64_t> runs{0}, skipped{0}, aborted{0}, in_flight{0}, checks{0};
    std::atomic<int64_t> lateness_p99_us{0}, loop_lag_us{0};
  } loop_stats;
  absl::Time snapshot_due = absl::Now();
  std::function<void()> snapshot = [&] {
    const absl::Time now = absl::Now();
    loop_stats.loop_lag_us = std::max<int64_t>(0, absl::ToInt64Microseconds(now - snapshot_due));
    snapshot_due = now + absl::Seconds(1);
    const Scheduler::Stats& st = scheduler->stats();
    loop_stats.runs = st.runs;
    loop_stats.skipped = st.skipped_overlap;
    loop_stats.aborted = st.aborted;
    loop_stats.in_flight = st.in_flight;
    loop_stats.checks = st.checks;
    const absl::Duration lateness_p99 = scheduler->LatenessP99();  // a selection over 8192
    loop_stats.lateness_p99_us = absl::ToInt64Microseconds(lateness_p99);
    if (uplink) {
      uplink->set_lateness_p99(lateness_p99);  // for its batches' ProberStatus
    }
    loop.RunAfter(std::chrono::seconds(1), snapshot);
  };
  snapshot();
  if (!metrics_listen.empty()) {
    absl::Status st = metrics.Start(metrics_listen, [&] {
      Uplink::Stats u = uplink->stats();
      common::MetricsText m;
      m.Add("sonde_prober_checks", "gauge", "Checks configured.", loop_stats.checks.load());
      m.Add("sonde_prober_runs_total", "counter", "Probe runs started.", loop_stats.runs.load());
      m.Add("sonde_prober_runs_skipped_total", "counter",
            "Slots skipped because the check's previous run was still going.",
            loop_stats.skipped.load());
      m.Add("sonde_prober_runs_aborted_total", "counter",
            "Runs the scheduler had to abort at their deadline.", loop_stats.aborted.load());
      m.Add("sonde_prober_in_flight", "gauge", "Probe runs in progress.",
            loop_stats.in_flight.load());
      m.Add("sonde_prober_lateness_p99_seconds", "gauge", "99th percentile of run start lateness.",
            loop_stats.lateness_p99_us.load() / 1e6);
      m.Add("sonde_prober_loop_lag_seconds", "gauge",
            "How late the event loop ran its last 1-second timer (a busy or blocked loop).",
            loop_stats.loop_lag_us.load() / 1e6);
      m.Add("sonde_prober_results_total", "counter", "Results produced.", u.added);
      std::vector<std::pair<std::string, double>> failures;
      for (const auto& [code, n] : u.failures) {
        failures.emplace_back(common::Label("class", v1::FailureClass::Code_Name(code)), n);
      }
      m.AddSamples("sonde_prober_failures_total", "counter",
                   "Failed results produced, by failure class.", failures);
      m.Add("sonde_prober_backlog_results", "gauge",
            "Results not yet acked by the collector: waiting for a batch, or in unacked "
            "batches (spool or memory).",
            uplink->backlog());
      m.Add("sonde_prober_result_text_repaired_total", "counter",
            "Result text fields a probe left invalid UTF-8, repaired on delivery.",
            RepairedTextFields());
      m.Add("sonde_prober_batches_spooled_total", "counter", "Batches formed and stored.",
            u.spooled_batches);
      m.Add("sonde_prober_batches_sent_total", "counter", "Batches written to the collector.",
            u.sent_batches);
      m.Add("sonde_prober_batches_acked_total", "counter", "Batches the collector acked.",
            u.acked_batches);
      m.Add("sonde_prober_results_acked_total", "counter", "Results the collector acked.",
            u.acked_results);
      m.Add("sonde_prober_batches_duplicate_total", "counter",
            "Acks saying the collector already had the batch.", u.duplicates);
      m.Add("sonde_prober_results_dropped_total", "counter",
            "Results lost: buffer or spool over its cap, or refused as invalid.", u.dropped);
      m.Add("sonde_prober_reconnects_total", "counter", "Collector stream reconnects.",
            u.reconnects);
      m.Add("sonde_prober_batches_refused_total", "counter",
            "Batches the collector refused (invalid, or too large as one result), dropped "
            "and reported as a gap.",
            u.refused_batches);
      m.Add("sonde_prober_batches_split_total", "counter",
            "Batches the collector refused that were resent as two halves.", u.split_batches);
      m.Add("sonde_prober_spool_bytes", "gauge", "Bytes in the spool.", u.spool_bytes);
      m.Add("sonde_prober_spool_write_errors_total", "counter", "Failed spool writes.",
            u.spool_write_errors);
      m.Add("sonde_prober_spool_unreadable_records_total", "counter",
            "Spool records that could not be read back; each loss is reported as a gap.",
            u.spool_unreadable);
      m.Add("sonde_prober_spool_sync_errors_total", "counter",
            "Failed fdatasync of a spool segment or fsync of the spool directory.",
            u.spool_sync_errors);
      m.Add("sonde_prober_oldest_unacked_age_seconds", "gauge",
            "Age of the oldest result not yet acked (0 when none).",
            u.oldest_unacked == absl::InfiniteFuture()
                ? 0.0
                : absl::ToDoubleSeconds(absl::Now() - u.oldest_unacked));
      m.Add("sonde_prober_collector_connected", "gauge", "1 while the stream is up.",
            u.connected ? 1 : 0);
      if (config_client != nullptr) {
        ConfigClient::Stats c = config_client->stats();
        m.Add("sonde_prober_config_full_applied_total", "counter",
              "Complete config versions received and applied.", c.full_applied);
        m.Add("sonde_prober_config_delta_applied_total", "counter",
              "Config deltas received and applied.", c.delta_applied);
        m.Add("sonde_prober_config_refused_total", "counter",
              "Config transfers dropped as broken (the running version stays).", c.refused);
        m.Add("sonde_prober_config_bytes_received_total", "counter",
              "Config bytes received from the collector.", c.bytes_received);
        m.Add("sonde_prober_config_version_info", "gauge", "The config version in force.", 1,
              common::Label("version", c.version));
      }
      return m.text();
    });
    if (!st.ok()) {
      spdlog::error("{}", st.message());
      return 1;
    }
  }

  (void)loop.AddFd(signals.fd(), EPOLLIN, [&](uint32_t) {
    int sig = signals.Read();
    if (sig == SIGHUP && !config_path.empty()) {
      auto reloaded = LoadConfigApart(config_path);
      if (!reloaded.ok()) {
        spdlog::error("SIGHUP: {} refused, keeping the running config:\n{}", config_path,
                      reloaded.status().message());
        return;
      }
      set_policy(reloaded->probe_policy());
      std::vector<v1::Check> checks = checks_for(*reloaded);
      *reloaded = v1::Config();  // freed before SetChecks trims
      scheduler->SetChecks(std::move(checks));
      spdlog::info("SIGHUP: reloaded {}: {} checks", config_path, scheduler->stats().checks);
    } else if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("signal {}: stopping", sig);
      common::NotifyStopping();
      loop.Stop();
    }
  });
  // The watchdog is fed from the event loop, so a wedged loop gets the
  // prober restarted.
  std::function<void()> watchdog = [&] {
    common::NotifyWatchdog();
    loop.RunAfter(absl::ToChronoMicroseconds(common::WatchdogInterval()), watchdog);
  };
  if (common::WatchdogInterval() != absl::InfiniteDuration()) {
    watchdog();
  }
  spdlog::info("{} running", common::VersionLine("sonde-prober"));
  common::NotifyReady(absl::StrCat("prober ", prober_id, " region ", region));
  loop.Run();
  metrics.Stop();
  loop.RemoveFd(signals.fd());
  if (config_client) {
    config_client->Stop();
  }
  scheduler.reset();  // aborts running probes
  size_t backlog = uplink->backlog();
  uplink->Stop(absl::Seconds(3));
  auto st = uplink->stats();
  spdlog::info("stopped: {} results produced, {} acked, {} still unacked at exit", st.added,
               st.acked_results, uplink->backlog());
  (void)backlog;
  return 0;
}

}  // namespace sonde::prober
