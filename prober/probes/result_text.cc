#include "prober/probes/result_text.h"

#include <atomic>
#include <string>

#include "google/protobuf/repeated_ptr_field.h"

namespace sonde::prober {
namespace {

std::atomic<uint64_t> repaired_total{0};

// The string fields of each message type of a result, by their generated
// accessors: a field is read with its getter (no reflection, no copy) and
// only a field that is not clean is touched through its mutable accessor
// (which would allocate an unset field). A test walks the descriptors and
// fails when a string field is missing here (result_text_test.cc).
template <typename M>
struct StringField {
  const std::string& (M::*get)() const;
  std::string* (M::*mutable_field)();
};

using v1::DnsRecord;
using v1::DnsResolverResult;
using v1::ProbeResult;

constexpr StringField<ProbeResult> kResultStrings[] = {
    {&ProbeResult::check_id, &ProbeResult::mutable_check_id},
    {&ProbeResult::service, &ProbeResult::mutable_service},
    {&ProbeResult::kind, &ProbeResult::mutable_kind},
    {&ProbeResult::prober_id, &ProbeResult::mutable_prober_id},
    {&ProbeResult::region, &ProbeResult::mutable_region},
    {&ProbeResult::detail, &ProbeResult::mutable_detail},
    {&ProbeResult::target, &ProbeResult::mutable_target},
    {&ProbeResult::resolved_address, &ProbeResult::mutable_resolved_address},
    {&ProbeResult::tls_version, &ProbeResult::mutable_tls_version},
    {&ProbeResult::tls_cipher, &ProbeResult::mutable_tls_cipher},
    {&ProbeResult::cert_subject, &ProbeResult::mutable_cert_subject},
    {&ProbeResult::cert_issuer, &ProbeResult::mutable_cert_issuer},
    {&ProbeResult::cert_not_before, &ProbeResult::mutable_cert_not_before},
    {&ProbeResult::cert_not_after, &ProbeResult::mutable_cert_not_after},
    {&ProbeResult::chain_not_after, &ProbeResult::mutable_chain_not_after},
    {&ProbeResult::banner, &ProbeResult::mutable_banner},
    {&ProbeResult::dns_rcode, &ProbeResult::mutable_dns_rcode},
    {&ProbeResult::fallback_address, &ProbeResult::mutable_fallback_address},
    {&ProbeResult::grpc_serving_status, &ProbeResult::mutable_grpc_serving_status},
};
constexpr StringField<DnsResolverResult> kResolverStrings[] = {
    {&DnsResolverResult::resolver, &DnsResolverResult::mutable_resolver},
    {&DnsResolverResult::rcode, &DnsResolverResult::mutable_rcode},
};
constexpr StringField<DnsRecord> kRecordStrings[] = {
    {&DnsRecord::name, &DnsRecord::mutable_name},
    {&DnsRecord::type, &DnsRecord::mutable_type},
    {&DnsRecord::data, &DnsRecord::mutable_data},
};

template <typename M, size_t N>
size_t RepairFields(M* m, const StringField<M> (&fields)[N]) {
  size_t repaired = 0;
  for (const StringField<M>& f : fields) {
    const std::string& s = (m->*f.get)();
    if (!IsCleanUtf8(s)) {
      std::string* field = (m->*f.mutable_field)();
      *field = SafeText(*field, kDetailMaxBytes);
      ++repaired;
    }
  }
  return repaired;
}

size_t RepairRepeated(google::protobuf::RepeatedPtrField<std::string>* strings) {
  size_t repaired = 0;
  for (std::string& s : *strings) {
    if (!IsCleanUtf8(s)) {
      s = SafeText(s, kDetailMaxBytes);
      ++repaired;
    }
  }
  return repaired;
}

size_t Repair(ProbeResult* r) {
  size_t repaired = RepairFields(r, kResultStrings);
  if (r->cert_sans_size() > 0) {
    repaired += RepairRepeated(r->mutable_cert_sans());
  }
  for (DnsResolverResult& d : *r->mutable_dns()) {
    repaired += RepairFields(&d, kResolverStrings);
    for (DnsRecord& a : *d.mutable_answers()) {
      repaired += RepairFields(&a, kRecordStrings);
    }
  }
  return repaired;
}

}  // namespace

size_t RepairResultText(v1::ProbeResult* result) {
  size_t n = Repair(result);
  if (n > 0) {
    repaired_total.fetch_add(n, std::memory_order_relaxed);
  }
  return n;
}

uint64_t RepairedTextFields() { return repaired_total.load(std::memory_order_relaxed); }

}  // namespace sonde::prober
