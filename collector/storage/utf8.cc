#include "collector/storage/utf8.h"

#include <vector>

namespace sonde::collector {
namespace {

namespace pb = google::protobuf;

// Length of the well-formed UTF-8 sequence at p[0..n), or 0 if there is none
// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(const unsigned char* p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80) {
    return 1;
  }
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c == 0xE0) {
    len = 3;
    lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    len = 3;
  } else if (c == 0xED) {
    len = 3;
    hi = 0x9F;
  } else if (c == 0xF0) {
    len = 4;
    lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    len = 4;
  } else if (c == 0xF4) {
    len = 4;
    hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi) {
    return 0;
  }
  for (size_t i = 2; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) {
      return 0;
    }
  }
  return len;
}

}  // namespace

bool IsCleanUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (p[i] != 0 && p[i] < 0x80) {  // ASCII, the common case
      ++i;
      continue;
    }
    if (p[i] == 0) {
      return false;
    }
    size_t len = Utf8SequenceLength(p + i, s.size() - i);
    if (len == 0) {
      return false;
    }
    i += len;
  }
  return true;
}

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

std::string SanitizeUtf8(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  while (i < in.size()) {
    if (p[i] == 0) {
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(p + i, in.size() - i);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      ++i;
      continue;
    }
    out.append(in.data() + i, len);
    i += len;
  }
  return out;
}

}  // namespace sonde::collector
