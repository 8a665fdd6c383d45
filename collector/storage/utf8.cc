#include "collector/storage/utf8.h"

#include <cstddef>
#include <string>
#include <vector>

#include "common/result_strings.h"
#include "common/text/safe_text.h"

namespace sonde::collector {
namespace pb = google::protobuf;

bool MessageIsClean(const pb::Message& m) {
  const pb::Reflection* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  std::string scratch;
  for (const pb::FieldDescriptor* f : fields) {
    if (f->type() == pb::FieldDescriptor::TYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          if (!IsCleanUtf8(r->GetRepeatedStringReference(m, f, i, &scratch))) {
            return false;
          }
        }
      } else if (!IsCleanUtf8(r->GetStringReference(m, f, &scratch))) {
        return false;
      }
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          if (!MessageIsClean(r->GetRepeatedMessage(m, f, i))) {
            return false;
          }
        }
      } else if (!MessageIsClean(r->GetMessage(m, f))) {
        return false;
      }
    }
  }
  return true;
}

namespace {

template <typename Fields, typename M>
bool FieldsClean(const M& m) {
  return Fields::AllOf([&m](auto field) { return IsCleanUtf8(decltype(field)::Get(m)); });
}

}  // namespace

bool ResultIsClean(const v1::ProbeResult& r) {
  if (!FieldsClean<common::ResultStrings>(r)) {
    return false;
  }
  for (const std::string& san : r.cert_sans()) {
    if (!IsCleanUtf8(san)) {
      return false;
    }
  }
  for (const v1::DnsResolverResult& d : r.dns()) {
    if (!FieldsClean<common::ResolverStrings>(d)) {
      return false;
    }
    for (const v1::DnsRecord& a : d.answers()) {
      if (!FieldsClean<common::RecordStrings>(a)) {
        return false;
      }
    }
  }
  return true;
}

void SanitizeMessage(pb::Message* m) {
  const pb::Reflection* r = m->GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->type() == pb::FieldDescriptor::TYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          std::string v = r->GetRepeatedString(*m, f, i);
          if (!IsCleanUtf8(v)) {
            r->SetRepeatedString(m, f, i, SanitizeUtf8(v));
          }
        }
      } else {
        std::string v = r->GetString(*m, f);
        if (!IsCleanUtf8(v)) {
          r->SetString(m, f, SanitizeUtf8(v));
        }
      }
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          SanitizeMessage(r->MutableRepeatedMessage(m, f, i));
        }
      } else {
        SanitizeMessage(r->MutableMessage(m, f));
      }
    }
  }
}

}  // namespace sonde::collector
