#include "prober/probes/result_text.h"

#include <atomic>
#include <string>

#include "common/result_strings.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace sonde::prober {
namespace {

std::atomic<uint64_t> repaired_total{0};

using common::kRecordStrings;
using common::kResolverStrings;
using common::kResultStrings;
using common::StringField;
using v1::DnsRecord;
using v1::DnsResolverResult;
using v1::ProbeResult;

template <typename M, size_t N>
size_t RepairFields(M* m, const StringField<M> (&fields)[N]) {
  size_t repaired = 0;
  for (const StringField<M>& f : fields) {
    const std::string& s = (m->*f.get)();
    if (!s.empty() && !IsCleanUtf8(s)) {
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
