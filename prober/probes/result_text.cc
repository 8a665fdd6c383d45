#include "prober/probes/result_text.h"

#include <atomic>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sonde::prober {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::atomic<uint64_t> repaired_total{0};

// Walks the fields that are set (reflection, so a field added to the proto
// later is covered without a change here).
size_t RepairMessage(Message* m) {
  const Reflection* refl = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(*m, &fields);
  size_t repaired = 0;
  std::string scratch;
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < refl->FieldSize(*m, f); ++i) {
          repaired += RepairMessage(refl->MutableRepeatedMessage(m, f, i));
        }
      } else {
        repaired += RepairMessage(refl->MutableMessage(m, f));
      }
      continue;
    }
    if (f->type() != FieldDescriptor::TYPE_STRING) {
      continue;  // bytes fields may hold anything
    }
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(*m, f); ++i) {
        const std::string& s = refl->GetRepeatedStringReference(*m, f, i, &scratch);
        if (!IsCleanUtf8(s)) {
          refl->SetRepeatedString(m, f, i, SafeText(s, kDetailMaxBytes));
          ++repaired;
        }
      }
    } else {
      const std::string& s = refl->GetStringReference(*m, f, &scratch);
      if (!IsCleanUtf8(s)) {
        refl->SetString(m, f, SafeText(s, kDetailMaxBytes));
        ++repaired;
      }
    }
  }
  return repaired;
}

}  // namespace

size_t RepairResultText(v1::ProbeResult* result) {
  size_t n = RepairMessage(result);
  if (n > 0) {
    repaired_total.fetch_add(n, std::memory_order_relaxed);
  }
  return n;
}

uint64_t RepairedTextFields() { return repaired_total.load(std::memory_order_relaxed); }

}  // namespace sonde::prober
