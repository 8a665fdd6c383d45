#include "collector/storage/utf8.h"

#include <vector>

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

// String fields of `d` and the messages it holds, counted once per field.
int StringFieldCount(const pb::Descriptor* d, int depth) {
  int n = 0;
  for (int i = 0; i < d->field_count() && depth < 8; ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->type() == pb::FieldDescriptor::TYPE_STRING) {
      ++n;
    } else if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      n += StringFieldCount(f->message_type(), depth + 1);
    }
  }
  return n;
}

// The string fields ResultIsClean reads: 20 of ProbeResult, 2 of
// DnsResolverResult, 3 of DnsRecord.
constexpr int kKnownStringFields = 25;

bool ResolverIsClean(const v1::DnsResolverResult& d) {
  if (!IsCleanUtf8(d.resolver()) || !IsCleanUtf8(d.rcode())) {
    return false;
  }
  for (const v1::DnsRecord& a : d.answers()) {
    if (!IsCleanUtf8(a.name()) || !IsCleanUtf8(a.type()) || !IsCleanUtf8(a.data())) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool ResultIsClean(const v1::ProbeResult& r) {
  static const bool kKnown =
      StringFieldCount(v1::ProbeResult::descriptor(), 0) == kKnownStringFields;
  if (!kKnown) {
    return MessageIsClean(r);
  }
  for (const std::string* s :
       {&r.check_id(), &r.service(), &r.kind(), &r.prober_id(), &r.region(), &r.detail(),
        &r.target(), &r.resolved_address(), &r.tls_version(), &r.tls_cipher(), &r.cert_subject(),
        &r.cert_issuer(), &r.cert_not_before(), &r.cert_not_after(), &r.chain_not_after(),
        &r.banner(), &r.dns_rcode(), &r.fallback_address(), &r.grpc_serving_status()}) {
    if (!IsCleanUtf8(*s)) {
      return false;
    }
  }
  for (const std::string& san : r.cert_sans()) {
    if (!IsCleanUtf8(san)) {
      return false;
    }
  }
  for (const v1::DnsResolverResult& d : r.dns()) {
    if (!ResolverIsClean(d)) {
      return false;
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
