#include "prober/probes/result_text.h"

#include <atomic>
#include <string>

#include "common/result_strings.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace sonde::prober {
namespace {

std::atomic<uint64_t> repaired_total{0};

using common::RecordStrings;
using common::ResolverStrings;
using common::ResultStrings;
using v1::DnsRecord;
using v1::DnsResolverResult;
using v1::ProbeResult;

template <typename Fields, typename M>
size_t RepairFields(M* m) {
  size_t repaired = 0;
  Fields::ForEach([m, &repaired](auto field) {
    using Field = decltype(field);
    const std::string& s = Field::Get(*m);
    if (!s.empty() && !IsCleanUtf8(s)) {
      std::string* mutable_field = Field::Mutable(m);
      *mutable_field = SafeText(*mutable_field, kDetailMaxBytes);
      ++repaired;
    }
  });
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
  size_t repaired = RepairFields<ResultStrings>(r);
  if (r->cert_sans_size() > 0) {
    repaired += RepairRepeated(r->mutable_cert_sans());
  }
  for (DnsResolverResult& d : *r->mutable_dns()) {
    repaired += RepairFields<ResolverStrings>(&d);
    for (DnsRecord& a : *d.mutable_answers()) {
      repaired += RepairFields<RecordStrings>(&a);
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
