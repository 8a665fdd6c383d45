#include "prober/probes/dns/dns_probe.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/checks/registry.h"
#include "common/net.h"
#include "common/text/safe_text.h"
#include "prober/probes/dns/dns_packet.h"
#include "prober/probes/spare_pool.h"

namespace sonde::prober {

using FC = v1::FailureClass;

namespace {

std::string Normalize(const std::string& s) {
  return absl::AsciiStrToLower(absl::StripSuffix(absl::StripAsciiWhitespace(s), "."));
}

using AnswerSet = absl::InlinedVector<std::string, 4>;

void SortUnique(AnswerSet* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

FC::Code ClassForRcode(int rcode) {
  switch (rcode) {
    case 3:
      return FC::DNS_NXDOMAIN;
    case 2:
      return FC::DNS_SERVFAIL;
    case 5:
      return FC::DNS_REFUSED;
    case 0:
      return FC::DNS_UNEXPECTED_ANSWER;
    default:
      return FC::DNS_SERVFAIL;
  }
}

}  // namespace

v1::DnsResolverResult JudgeDnsAnswer(const v1::DnsSpec& spec, const std::string& resolver,
                                     const DnsResolver::RawAnswer& answer) {
  v1::DnsResolverResult out;
  JudgeDnsAnswer(spec, resolver, answer, &out);
  return out;
}

void JudgeDnsAnswer(const v1::DnsSpec& spec, const std::string& resolver,
                    const DnsResolver::RawAnswer& answer, v1::DnsResolverResult* out_ptr) {
  v1::DnsResolverResult& out = *out_ptr;
  out.Clear();
  out.set_resolver(resolver.empty() ? "system" : resolver);
  out.set_rtt_us(static_cast<uint32_t>(answer.elapsed.count()));
  if (answer.packet.empty()) {
    std::string rcode;
    FC::Code fc = DnsResolver::ClassifyStatus(answer.status, &rcode);
    out.set_rcode(rcode);
    out.set_failure_class(fc == FC::OK ? FC::DNS_UNEXPECTED_ANSWER : fc);
    return;
  }
  auto packet = ParseDnsPacket(answer.packet);
  if (!packet.ok()) {
    out.set_rcode("FORMERR");
    out.set_failure_class(FC::DNS_UNEXPECTED_ANSWER);
    return;
  }
  out.set_rcode(RcodeName(packet->rcode));
  uint16_t qtype = TypeNumber(spec.type().empty() ? "A" : spec.type());
  // Sets as sorted, unique vectors: a node per answer was an allocation.
  AnswerSet got;
  for (const DnsRecordData& rec : packet->answers) {
    // Every record is judged; the result keeps the first few, each capped
    // (a TXT answer over TCP can be 64 KiB).
    if (out.answers_size() < static_cast<int>(kDnsAnswersKept)) {
      v1::DnsRecord* r = out.add_answers();
      AssignSafeText(rec.name, kTargetTextMaxBytes, r->mutable_name());
      r->set_type(TypeName(rec.type));
      r->set_ttl(rec.ttl);
      AssignSafeText(rec.data, kTargetTextMaxBytes, r->mutable_data());
    }
    if (rec.type == qtype) {
      got.push_back(Normalize(rec.data));
    }
  }
  const absl::string_view expect_rcode =
      spec.expect_rcode().empty() ? absl::string_view("NOERROR") : spec.expect_rcode();
  if (out.rcode() != expect_rcode) {
    out.set_failure_class(ClassForRcode(packet->rcode));
    return;
  }
  if (packet->rcode != 0) {
    out.set_failure_class(FC::OK);  // the expected negative answer
    return;
  }
  if (got.empty()) {
    out.set_failure_class(FC::DNS_NODATA);
    return;
  }
  if (!spec.expect_answers().empty()) {
    SortUnique(&got);
    AnswerSet want;
    for (const std::string& a : spec.expect_answers()) {
      want.push_back(Normalize(a));
    }
    SortUnique(&want);
    bool ok = spec.answers_match() == "contains"
                  ? std::includes(got.begin(), got.end(), want.begin(), want.end())
                  : got == want;
    if (!ok) {
      out.set_failure_class(FC::DNS_UNEXPECTED_ANSWER);
      return;
    }
  }
  out.set_failure_class(FC::OK);
}

namespace {

class DnsProbe : public Probe {
 public:
  DnsProbe(const v1::Check& check, ProbeEnv* env)
      : check_(check), env_(env), target_(checks::TargetOf(check)) {}

  ~DnsProbe() override {
    if (active_) {
      active_->finished = true;
    }
  }

  void Run(common::EventLoop::MonoTime deadline, Done done) override {
    // A finished run's state (of any DNS probe) that no late answer holds
    // any more: its messages keep their memory, and none is kept per check
    // (spare_pool.h).
    std::shared_ptr<RunState> run = SparePool<RunState>::Take();
    run->done = std::move(done);
    run->finished = false;
    run->start = env_->loop->Now();
    active_ = run;
    const v1::DnsSpec& d = check_.dns();
    // The check's resolvers, or the system's ("") when it names none.
    const size_t servers = std::max(d.resolvers_size(), 1);
    run->per_resolver.resize(servers);
    for (v1::DnsResolverResult& rr : run->per_resolver) {
      rr.Clear();
    }
    run->answered.assign(servers, false);
    run->pending = servers;
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - run->start);
    int qtype = TypeNumber(d.type().empty() ? "A" : d.type());
    for (size_t i = 0; i < servers; ++i) {
      const std::string& server = Server(i);
      run->per_resolver[i].set_resolver(server.empty() ? "system" : server);
      if (!PolicyAllows(server)) {
        // Refused before any packet is sent; judged like an answer.
        run->per_resolver[i].set_failure_class(FC::PROBER_POLICY);
        run->answered[i] = true;
        if (--run->pending == 0) {
          env_->loop->Post([this, run] {
            if (!run->finished) {
              Finish(run);
            }
          });
        }
        continue;
      }
      env_->resolver->Query(d.name(), qtype, server,
                            std::max(timeout, std::chrono::milliseconds(1)),
                            [this, run, i](DnsResolver::RawAnswer a) {
                              if (run->finished) {
                                return;
                              }
                              JudgeDnsAnswer(check_.dns(), Server(i), a, &run->per_resolver[i]);
                              run->answered[i] = true;
                              if (--run->pending == 0) {
                                Finish(run);
                              }
                            });
    }
  }

  void Abort() override {
    std::shared_ptr<RunState> run = active_;
    if (run == nullptr || run->finished) {
      return;
    }
    for (size_t i = 0; i < run->per_resolver.size(); ++i) {
      if (!run->answered[i]) {
        run->per_resolver[i].set_failure_class(FC::DNS_TIMEOUT);
      }
    }
    Finish(run);
  }

 private:
  // The i-th server asked: the check's i-th resolver, "" (the system's)
  // when it names none.
  const std::string& Server(size_t i) const {
    static const std::string kSystem;
    const auto& r = check_.dns().resolvers();
    return r.empty() ? kSystem : r[static_cast<int>(i)];
  }

  // The probe policy judges the DNS servers a check names; the system's
  // resolvers are the prober host's own and not a target.
  bool PolicyAllows(const std::string& server) const {
    if (server.empty() || env_->policy == nullptr || !env_->policy->enabled()) {
      return true;
    }
    absl::StatusOr<common::HostPort> hp = common::ParseHostPort(server, 53);
    return hp.ok() && CheckProbePolicy(*env_, hp->host).ok();
  }

  struct RunState {
    Done done;
    bool finished = false;
    common::EventLoop::MonoTime start;
    std::vector<v1::DnsResolverResult> per_resolver;
    std::vector<bool> answered;
    size_t pending = 0;
    std::string detail;
  };

  void Finish(std::shared_ptr<RunState> run) {
    run->finished = true;
    if (active_ == run) {
      active_.reset();
    }
    const v1::DnsSpec& d = check_.dns();
    const absl::string_view type = d.type().empty() ? absl::string_view("A") : d.type();
    std::unique_ptr<v1::ProbeResult> r = NewResult(*env_);
    r->set_target(target_);
    FC::Code fc = FC::OK;
    // "NAME TYPE: RESOLVER: WHAT; RESOLVER: WHAT", built in the run state's
    // buffer (kept with it for its capacity).
    std::string& detail = run->detail;
    detail.clear();
    absl::StrAppend(&detail, d.name(), " ", type, ": ");
    bool first = true;
    for (v1::DnsResolverResult& rr : run->per_resolver) {
      if (fc == FC::OK && rr.failure_class() != FC::OK) {
        fc = rr.failure_class();
      }
      absl::StrAppend(&detail, first ? "" : "; ", rr.resolver(), ": ");
      first = false;
      if (rr.failure_class() == FC::PROBER_POLICY) {
        detail.append("refused by the probe policy");
      } else if (rr.failure_class() == FC::DNS_TIMEOUT) {
        detail.append("no answer");
      } else if (rr.failure_class() == FC::DNS_NODATA) {
        absl::StrAppend(&detail, rr.rcode(), ", no ", type, " records");
      } else {
        detail.append(rr.rcode());
        const char* sep = " ";
        for (const auto& a : rr.answers()) {
          absl::StrAppend(&detail, sep, a.data(), " (ttl ", a.ttl(), ")");
          sep = ", ";
        }
      }
      // Moved, not copied: Run() clears the run state's message before
      // its next use, and the pooled result's (cleared) one comes back.
      r->add_dns()->Swap(&rr);
    }
    if (r->dns_size() > 0) {
      r->set_dns_rcode(r->dns(0).rcode());
      r->set_dns_us(r->dns(0).rtt_us());
    }
    r->set_total_us(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(env_->loop->Now() - run->start)
            .count()));
    r->set_failure_class(fc);
    AssignSafeText(detail, kDetailMaxBytes, r->mutable_detail());
    DeliverResult(*env_, &run->done, &r);
    // `this` may be gone now (`done` may end the probe); `run` is ours.
    run->done = nullptr;
    SparePool<RunState>::Give(std::move(run));
  }

  const v1::Check& check_;  // the Scheduler entry's (probe.h)
  ProbeEnv* env_;
  const std::string target_;          // ProbeResult.target, made once
  std::shared_ptr<RunState> active_;  // from SparePool<RunState>
};

}  // namespace

std::unique_ptr<Probe> NewDnsProbe(const v1::Check& check, ProbeEnv* env) {
  return std::make_unique<DnsProbe>(check, env);
}

}  // namespace sonde::prober
