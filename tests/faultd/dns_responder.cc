// AnswerDnsQuery: rules -> DNS answers (see dns_responder.h). Pure.
#include "tests/faultd/dns_responder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "tests/faultd/dns_message.h"

namespace sonde::faultd {
namespace {

constexpr int kMaxCnameHops = 8;
constexpr uint16_t kServerUdpSize = 1232;  // what faultd advertises in EDNS

const Rule& MatchName(const RuleSet& rules, const SocketAddress* source, absl::string_view name) {
  MatchContext ctx;
  ctx.listener = ListenerKind::kDns;
  ctx.phase = Phase::kRequest;
  ctx.source = source;
  ctx.name = name;
  return rules.Match(ctx);
}

// Records of `rule` answering `qtype` at `owner`; follows a CNAME to the
// rule of its target when the rule has no record of the type.
void Collect(const RuleSet& rules, const SocketAddress* source, const Rule& rule,
             const std::string& owner, uint16_t qtype, int depth,
             std::vector<dns::ResourceRecord>* out) {
  bool any = false;
  for (const DnsRecordData& r : rule.records) {
    if (r.type == qtype || qtype == dns::kTypeANY) {
      out->push_back({owner, r.type, dns::kClassIN, r.ttl, r.rdata});
      any = true;
    }
  }
  if (any || qtype == dns::kTypeCNAME) {
    return;
  }
  for (const DnsRecordData& r : rule.records) {
    if (r.type != dns::kTypeCNAME) {
      continue;
    }
    out->push_back({owner, r.type, dns::kClassIN, r.ttl, r.rdata});
    std::string target = dns::RdataToText(dns::kTypeCNAME, r.rdata);
    if (depth >= kMaxCnameHops) {
      return;
    }
    const Rule& next = MatchName(rules, source, target);
    if (!next.is_default()) {
      Collect(rules, source, next, target, qtype, depth + 1, out);
    }
    return;
  }
}

// The SOA that goes into the authority section of negative answers.
dns::ResourceRecord NegativeSoa(const Rule& rule, const std::string& qname) {
  std::string owner = rule.spec.zone().empty() ? qname : rule.spec.zone();
  for (const DnsRecordData& r : rule.records) {
    if (r.type == dns::kTypeSOA) {
      return {owner, r.type, dns::kClassIN, r.ttl, r.rdata};
    }
  }
  uint32_t ttl = rule.negative_ttl();
  auto rdata = dns::EncodeRdata(
      dns::kTypeSOA, absl::StrCat("ns1.faultd.test hostmaster.faultd.test 1 3600 600 86400 ", ttl));
  return {owner, dns::kTypeSOA, dns::kClassIN, ttl, rdata.ok() ? *rdata : std::string()};
}

}  // namespace

DnsReply AnswerDnsQuery(absl::string_view query, bool over_tcp, const SocketAddress* source,
                        const RuleSet& rules) {
  DnsReply reply;
  reply.rule = &rules.defaults();
  reply.counters.push_back("queries");
  reply.counters.push_back(over_tcp ? "tcp_queries" : "udp_queries");

  auto parsed = dns::Parse(query);
  if (!parsed.ok()) {
    // Answer FORMERR when the header is readable and is a query.
    if (query.size() >= dns::kHeaderSize && !(static_cast<uint8_t>(query[2]) & 0x80)) {
      dns::Message m;
      m.id = static_cast<uint16_t>((static_cast<uint8_t>(query[0]) << 8) |
                                   static_cast<uint8_t>(query[1]));
      m.qr = true;
      m.opcode = (static_cast<uint8_t>(query[2]) >> 3) & 0xF;
      m.rcode = dns::kFormErr;
      reply.send = true;
      reply.wire = dns::Serialize(m);
      reply.counters.push_back("formerr");
    } else {
      reply.counters.push_back("malformed_dropped");
    }
    return reply;
  }
  const dns::Message& q = *parsed;
  if (q.qr) {
    reply.counters.push_back("malformed_dropped");  // a response sent to us
    return reply;
  }
  dns::Message r;
  r.id = q.id;
  r.qr = true;
  r.opcode = q.opcode;
  r.rd = q.rd;
  r.ra = true;
  if (q.edns_udp_size) {
    r.edns_udp_size = kServerUdpSize;
  }
  reply.send = true;
  auto finish = [&](int rcode) {
    r.rcode = rcode;
    reply.counters.push_back(absl::StrCat("rcode_", dns::RcodeName(rcode)));
    reply.wire = dns::Serialize(r);
  };
  if (q.opcode != 0) {
    finish(dns::kNotImp);
    return reply;
  }
  if (q.questions.size() != 1) {
    reply.counters.push_back("formerr");
    finish(dns::kFormErr);
    return reply;
  }
  const dns::Question& question = q.questions[0];
  r.questions.push_back(question);
  if (question.klass != dns::kClassIN && question.klass != dns::kClassANY) {
    finish(dns::kRefused);
    return reply;
  }

  const Rule& rule = MatchName(rules, source, question.name);
  reply.rule = &rule;
  if (rule.is_default()) {
    finish(dns::kRefused);  // not a name faultd was told about
    return reply;
  }
  const pb::Rule& s = rule.spec;
  reply.delay_ms = s.delay_ms();
  if (s.drop()) {
    reply.send = false;
    reply.wire.clear();
    reply.counters.push_back("dropped");
    return reply;
  }
  r.aa = true;
  int rcode = rule.dns_rcode;
  if (rcode == dns::kNoError && !s.nodata()) {
    Collect(rules, source, rule, question.name, question.type, 0, &r.answers);
  }
  if (rcode == dns::kNxDomain || (rcode == dns::kNoError && r.answers.empty())) {
    r.authority.push_back(NegativeSoa(rule, question.name));
    if (rcode == dns::kNoError) {
      reply.counters.push_back("nodata");
    }
  }

  size_t limit = dns::kClassicUdpSize;
  if (q.edns_udp_size) {
    limit = std::clamp<size_t>(*q.edns_udp_size, dns::kClassicUdpSize, kServerUdpSize);
  }
  bool truncate = !over_tcp && (s.truncate() || dns::Serialize(r).size() > limit);
  if (truncate) {
    r.tc = true;
    r.answers.clear();
    r.authority.clear();
    r.additional.clear();
    reply.counters.push_back("truncated");
  }
  finish(rcode);
  return reply;
}

}  // namespace sonde::faultd
