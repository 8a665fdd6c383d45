#include "tests/deploy/wire_fixtures.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "google/protobuf/reflection.h"

namespace sonde::testing {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Sets every field of `m` to a value derived from its number; messages to
// depth 4, one element per repeated field.
void Fill(Message* m, int depth) {
  const Descriptor* d = m->GetDescriptor();
  const Reflection* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->containing_oneof() != nullptr && f->index_in_oneof() != 0) {
      continue;  // one member per oneof
    }
    const int n = f->number();
    const bool rep = f->is_repeated();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        rep ? r->AddInt32(m, f, n) : r->SetInt32(m, f, n);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        rep ? r->AddInt64(m, f, n * 1000) : r->SetInt64(m, f, n * 1000);
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        rep ? r->AddUInt32(m, f, n) : r->SetUInt32(m, f, n);
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        rep ? r->AddUInt64(m, f, n) : r->SetUInt64(m, f, n);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        rep ? r->AddDouble(m, f, n / 8.0) : r->SetDouble(m, f, n / 8.0);
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        rep ? r->AddFloat(m, f, n / 8.0f) : r->SetFloat(m, f, n / 8.0f);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        rep ? r->AddBool(m, f, true) : r->SetBool(m, f, true);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* e = f->enum_type();
        const auto* v = e->value(e->value_count() - 1);
        rep ? r->AddEnum(m, f, v) : r->SetEnum(m, f, v);
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string s = f->name() + "-" + std::to_string(n);
        rep ? r->AddString(m, f, s) : r->SetString(m, f, s);
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (depth < 4) {
          Fill(rep ? r->AddMessage(m, f) : r->MutableMessage(m, f), depth + 1);
        }
        break;
    }
  }
}

}  // namespace

std::string ReadFixture(const std::string& name) {
  const char* src = std::getenv("SONDE_SOURCE_DIR");
  std::ifstream in(
      std::string(src != nullptr ? src : ".") + "/tests/fixtures/upgrade-0.1.0/" + name,
      std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

v1::ResultBatch RealisticBatch() {
  v1::ResultBatch b;
  b.set_prober_id("fixture-fra");
  b.set_region("fra");
  b.set_batch_seq(1);
  for (int i = 0; i < 3; ++i) {
    v1::ProbeResult* r = b.add_results();
    r->set_check_id("shop-tcp");
    r->set_service("shop");
    r->set_kind("tcp");
    r->set_prober_id("fixture-fra");
    r->set_region("fra");
    r->set_seq(i + 1);
    // 2026-12-05T12:00:00Z + i s
    r->mutable_start_time()->set_seconds(1796472000 + i);
    r->set_ok(i != 1);
    r->set_failure_class(i != 1 ? v1::FailureClass::OK : v1::FailureClass::TCP_REFUSED);
    r->set_detail(i != 1 ? "connected" : "connection refused");
    r->set_connect_us(250 + i);
    r->set_total_us(300 + i);
    r->set_target("127.0.0.1:22");
    r->set_resolved_address("127.0.0.1");
  }
  return b;
}

v1::ResultBatch EveryFieldBatch() {
  v1::ResultBatch b;
  Fill(&b, 0);
  return b;
}

v1::ProberHello Hello() {
  v1::ProberHello h;
  h.set_prober_id("fixture-fra");
  h.set_region("fra");
  h.set_version("0.1.0");
  return h;
}

void ClearFieldsUnknownTo(const Descriptor* known, Message* m) {
  const Descriptor* d = m->GetDescriptor();
  const Reflection* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const FieldDescriptor* k = known->FindFieldByNumber(f->number());
    if (k == nullptr) {
      r->ClearField(m, f);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && k->message_type() != nullptr) {
      if (f->is_repeated()) {
        for (int j = 0; j < r->FieldSize(*m, f); ++j) {
          ClearFieldsUnknownTo(k->message_type(), r->MutableRepeatedMessage(m, f, j));
        }
      } else if (r->HasField(*m, f)) {
        ClearFieldsUnknownTo(k->message_type(), r->MutableMessage(m, f));
      }
    }
  }
}

}  // namespace sonde::testing
