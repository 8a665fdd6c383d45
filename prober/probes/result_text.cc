#include "prober/probes/result_text.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sonde::prober {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::atomic<uint64_t> repaired_total{0};

// The fields of one message type worth looking at: its string fields and
// its message fields (each with the plan of its type). Built once per type
// from the descriptor, so a field added to the proto later is covered
// without a change here, and a result costs no ListFields walk (a vector
// allocated and every field's has-bit tested).
struct Plan {
  std::vector<const FieldDescriptor*> strings;  // TYPE_STRING; bytes may hold anything
  std::vector<std::pair<const FieldDescriptor*, const Plan*>> messages;
};

const Plan* PlanFor(const google::protobuf::Descriptor* d,
                    std::map<const google::protobuf::Descriptor*, std::unique_ptr<Plan>>* plans) {
  auto [it, added] = plans->try_emplace(d);
  if (!added) {
    return it->second.get();  // built, or being built (a recursive type)
  }
  it->second = std::make_unique<Plan>();
  Plan* plan = it->second.get();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      plan->messages.emplace_back(f, PlanFor(f->message_type(), plans));
    } else if (f->type() == FieldDescriptor::TYPE_STRING) {
      plan->strings.push_back(f);
    }
  }
  return plan;
}

const Plan& ResultPlan() {
  static const auto* plans = [] {
    auto* p = new std::map<const google::protobuf::Descriptor*, std::unique_ptr<Plan>>();
    PlanFor(v1::ProbeResult::descriptor(), p);
    return p;
  }();
  return *plans->at(v1::ProbeResult::descriptor());
}

size_t RepairMessage(Message* m, const Plan& plan) {
  const Reflection* refl = m->GetReflection();
  size_t repaired = 0;
  std::string scratch;
  for (const auto& [f, sub] : plan.messages) {
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(*m, f); ++i) {
        repaired += RepairMessage(refl->MutableRepeatedMessage(m, f, i), *sub);
      }
    } else if (refl->HasField(*m, f)) {
      repaired += RepairMessage(refl->MutableMessage(m, f), *sub);
    }
  }
  for (const FieldDescriptor* f : plan.strings) {
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(*m, f); ++i) {
        const std::string& s = refl->GetRepeatedStringReference(*m, f, i, &scratch);
        if (!IsCleanUtf8(s)) {
          refl->SetRepeatedString(m, f, i, SafeText(s, kDetailMaxBytes));
          ++repaired;
        }
      }
    } else {
      // An unset field (or another member of its oneof) reads as "".
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
  size_t n = RepairMessage(result, ResultPlan());
  if (n > 0) {
    repaired_total.fetch_add(n, std::memory_order_relaxed);
  }
  return n;
}

uint64_t RepairedTextFields() { return repaired_total.load(std::memory_order_relaxed); }

}  // namespace sonde::prober
