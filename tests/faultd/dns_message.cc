// DNS wire format by hand (see dns_message.h). Pure functions.
#include "tests/faultd/dns_message.h"

#include <arpa/inet.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace sonde::faultd::dns {
namespace {

constexpr size_t kMaxNameOctets = 255;
constexpr int kMaxPointerHops = 64;
constexpr size_t kMaxRecords = 1024;

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed DNS message: ", what));
}

bool IsPlainLabelChar(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '*';
}

void AppendLabelText(absl::string_view label, std::string* out) {
  for (unsigned char c : label) {
    if (IsPlainLabelChar(c)) {
      out->push_back(static_cast<char>(c));
    } else if (c == '.' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c > 0x20 && c < 0x7f) {
      out->push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(out, "\\%03d", c);
    }
  }
}

// Bounds-checked cursor over a whole message.
class Reader {
 public:
  explicit Reader(absl::string_view wire) : w_(wire) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return w_.size() - pos_; }
  absl::string_view wire() const { return w_; }

  bool U16(uint16_t* v) {
    if (remaining() < 2) {
      return false;
    }
    *v = static_cast<uint16_t>((static_cast<uint8_t>(w_[pos_]) << 8) |
                               static_cast<uint8_t>(w_[pos_ + 1]));
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t* v) {
    uint16_t hi, lo;
    if (!U16(&hi) || !U16(&lo)) {
      return false;
    }
    *v = (static_cast<uint32_t>(hi) << 16) | lo;
    return true;
  }
  bool Bytes(size_t n, absl::string_view* out) {
    if (remaining() < n) {
      return false;
    }
    *out = w_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // Reads a possibly compressed name at the cursor into text form.
  bool Name(std::string* text) { return ReadName(w_, &pos_, text); }

  // Reads a name starting at *pos in `w`; advances *pos past the name's
  // in-place part. Pointers must point backwards and hops are bounded, so a
  // hostile message cannot loop.
  static bool ReadName(absl::string_view w, size_t* pos, std::string* text) {
    text->clear();
    size_t p = *pos;
    bool jumped = false;
    int hops = 0;
    size_t octets = 0;
    while (true) {
      if (p >= w.size()) {
        return false;
      }
      uint8_t len = static_cast<uint8_t>(w[p]);
      if ((len & 0xC0) == 0xC0) {
        if (p + 1 >= w.size()) {
          return false;
        }
        size_t target = (static_cast<size_t>(len & 0x3F) << 8) | static_cast<uint8_t>(w[p + 1]);
        if (!jumped) {
          *pos = p + 2;
        }
        jumped = true;
        if (target >= p || ++hops > kMaxPointerHops) {
          return false;
        }
        p = target;
        continue;
      }
      if ((len & 0xC0) != 0) {
        return false;  // 0x40/0x80: reserved label types
      }
      if (len == 0) {
        if (!jumped) {
          *pos = p + 1;
        }
        return octets + 1 <= kMaxNameOctets;
      }
      if (p + 1 + len > w.size()) {
        return false;
      }
      octets += len + 1;
      if (octets + 1 > kMaxNameOctets) {
        return false;
      }
      if (!text->empty()) {
        text->push_back('.');
      }
      AppendLabelText(w.substr(p + 1, len), text);
      p += 1 + len;
    }
  }

 private:
  absl::string_view w_;
  size_t pos_ = 0;
};

void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xFF));
}
void PutU32(std::string* out, uint32_t v) {
  PutU16(out, static_cast<uint16_t>(v >> 16));
  PutU16(out, static_cast<uint16_t>(v & 0xFFFF));
}
void PutName(std::string* out, absl::string_view name) {
  auto wire = EncodeName(name);
  out->append(wire.ok() ? *wire : std::string(1, '\0'));
}

// RDATA with embedded names is re-encoded without compression pointers.
bool ReadRdata(const Reader& r, uint16_t type, size_t start, size_t len, std::string* out) {
  absl::string_view w = r.wire();
  size_t end = start + len;
  auto name_at = [&](size_t* p) -> bool {
    std::string text;
    if (!Reader::ReadName(w, p, &text) || *p > end) {
      return false;
    }
    auto enc = EncodeName(text);
    if (!enc.ok()) {
      return false;
    }
    out->append(*enc);
    return true;
  };
  size_t p = start;
  switch (type) {
    case kTypeCNAME:
    case kTypeNS:
      return name_at(&p);
    case kTypeMX:
      if (len < 3) {
        return false;
      }
      out->append(w.data() + p, 2);
      p += 2;
      return name_at(&p);
    case kTypeSOA:
      if (!name_at(&p) || !name_at(&p) || p + 20 > end) {
        return false;
      }
      out->append(w.data() + p, 20);
      return true;
    default:
      out->assign(w.data() + start, len);
      return true;
  }
}

bool ReadRecord(Reader* r, ResourceRecord* rr) {
  uint16_t rdlen;
  if (!r->Name(&rr->name) || !r->U16(&rr->type) || !r->U16(&rr->klass) || !r->U32(&rr->ttl) ||
      !r->U16(&rdlen)) {
    return false;
  }
  size_t start = r->pos();
  absl::string_view raw;
  if (!r->Bytes(rdlen, &raw)) {
    return false;
  }
  return ReadRdata(*r, rr->type, start, rdlen, &rr->rdata);
}

void PutRecord(std::string* out, const ResourceRecord& rr) {
  PutName(out, rr.name);
  PutU16(out, rr.type);
  PutU16(out, rr.klass);
  PutU32(out, rr.ttl);
  PutU16(out, static_cast<uint16_t>(std::min<size_t>(rr.rdata.size(), 0xFFFF)));
  out->append(rr.rdata, 0, std::min<size_t>(rr.rdata.size(), 0xFFFF));
}

// Reads a name from self-contained RDATA (no pointers after Parse()).
std::string NameText(absl::string_view rdata, size_t* p) {
  std::string text;
  if (!Reader::ReadName(rdata, p, &text)) {
    *p = rdata.size();
    return "?";
  }
  return text;
}

}  // namespace

absl::StatusOr<std::string> EncodeName(absl::string_view name) {
  if (!name.empty() && name.back() == '.' && !(name.size() >= 2 && name[name.size() - 2] == '\\')) {
    name.remove_suffix(1);
  }
  std::string out;
  if (name.empty()) {
    return std::string(1, '\0');
  }
  std::string label;
  auto flush = [&]() -> absl::Status {
    if (label.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("empty label in name \"", name, "\""));
    }
    if (label.size() > 63) {
      return absl::InvalidArgumentError(
          absl::StrCat("label longer than 63 octets in \"", name, "\""));
    }
    out.push_back(static_cast<char>(label.size()));
    out.append(label);
    label.clear();
    return absl::OkStatus();
  };
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '.') {
      absl::Status s = flush();
      if (!s.ok()) {
        return s;
      }
    } else if (c == '\\') {
      if (i + 3 < name.size() && absl::ascii_isdigit(name[i + 1]) &&
          absl::ascii_isdigit(name[i + 2]) && absl::ascii_isdigit(name[i + 3])) {
        int v = (name[i + 1] - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0');
        if (v > 255) {
          return absl::InvalidArgumentError(absl::StrCat("bad escape in \"", name, "\""));
        }
        label.push_back(static_cast<char>(v));
        i += 3;
      } else if (i + 1 < name.size()) {
        label.push_back(name[++i]);
      } else {
        return absl::InvalidArgumentError(absl::StrCat("dangling '\\' in \"", name, "\""));
      }
    } else {
      label.push_back(c);
    }
  }
  absl::Status s = flush();
  if (!s.ok()) {
    return s;
  }
  out.push_back('\0');
  if (out.size() > kMaxNameOctets) {
    return absl::InvalidArgumentError(absl::StrCat("name longer than 255 octets: \"", name, "\""));
  }
  return out;
}

absl::StatusOr<Message> Parse(absl::string_view wire) {
  if (wire.size() < kHeaderSize) {
    return Malformed("shorter than a header");
  }
  if (wire.size() > kMaxMessageSize) {
    return Malformed("longer than 65535 octets");
  }
  Reader r(wire);
  Message m;
  uint16_t flags, qd, an, ns, ar;
  r.U16(&m.id);
  r.U16(&flags);
  r.U16(&qd);
  r.U16(&an);
  r.U16(&ns);
  r.U16(&ar);
  m.qr = flags & 0x8000;
  m.opcode = (flags >> 11) & 0xF;
  m.aa = flags & 0x0400;
  m.tc = flags & 0x0200;
  m.rd = flags & 0x0100;
  m.ra = flags & 0x0080;
  m.rcode = flags & 0xF;
  if (static_cast<size_t>(qd) + an + ns + ar > kMaxRecords) {
    return Malformed("too many records");
  }
  for (int i = 0; i < qd; ++i) {
    Question q;
    if (!r.Name(&q.name) || !r.U16(&q.type) || !r.U16(&q.klass)) {
      return Malformed("truncated question");
    }
    m.questions.push_back(std::move(q));
  }
  std::vector<ResourceRecord>* sections[] = {&m.answers, &m.authority, &m.additional};
  uint16_t counts[] = {an, ns, ar};
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < counts[s]; ++i) {
      ResourceRecord rr;
      if (!ReadRecord(&r, &rr)) {
        return Malformed("truncated or bad resource record");
      }
      if (s == 2 && rr.type == kTypeOPT && rr.name.empty()) {
        m.edns_udp_size = rr.klass;
        continue;
      }
      sections[s]->push_back(std::move(rr));
    }
  }
  return m;
}

std::string Serialize(const Message& m) {
  std::string out;
  PutU16(&out, m.id);
  uint16_t flags = (m.qr ? 0x8000 : 0) | ((m.opcode & 0xF) << 11) | (m.aa ? 0x0400 : 0) |
                   (m.tc ? 0x0200 : 0) | (m.rd ? 0x0100 : 0) | (m.ra ? 0x0080 : 0) |
                   (m.rcode & 0xF);
  PutU16(&out, flags);
  PutU16(&out, static_cast<uint16_t>(m.questions.size()));
  PutU16(&out, static_cast<uint16_t>(m.answers.size()));
  PutU16(&out, static_cast<uint16_t>(m.authority.size()));
  PutU16(&out, static_cast<uint16_t>(m.additional.size() + (m.edns_udp_size ? 1 : 0)));
  for (const Question& q : m.questions) {
    PutName(&out, q.name);
    PutU16(&out, q.type);
    PutU16(&out, q.klass);
  }
  for (const auto* section : {&m.answers, &m.authority, &m.additional}) {
    for (const ResourceRecord& rr : *section) {
      PutRecord(&out, rr);
    }
  }
  if (m.edns_udp_size) {
    out.push_back('\0');
    PutU16(&out, kTypeOPT);
    PutU16(&out, *m.edns_udp_size);
    PutU32(&out, 0);
    PutU16(&out, 0);
  }
  return out;
}

absl::StatusOr<uint16_t> TypeFromName(absl::string_view name) {
  std::string n = absl::AsciiStrToUpper(name);
  static const struct {
    const char* name;
    uint16_t type;
  } kTypes[] = {{"A", kTypeA},   {"NS", kTypeNS},   {"CNAME", kTypeCNAME}, {"SOA", kTypeSOA},
                {"MX", kTypeMX}, {"TXT", kTypeTXT}, {"AAAA", kTypeAAAA},   {"ANY", kTypeANY}};
  for (const auto& t : kTypes) {
    if (n == t.name) {
      return t.type;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown DNS type \"", name, "\" (A AAAA CNAME MX TXT NS SOA)"));
}

std::string TypeName(uint16_t type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeNS:
      return "NS";
    case kTypeCNAME:
      return "CNAME";
    case kTypeSOA:
      return "SOA";
    case kTypeMX:
      return "MX";
    case kTypeTXT:
      return "TXT";
    case kTypeAAAA:
      return "AAAA";
    case kTypeOPT:
      return "OPT";
    case kTypeANY:
      return "ANY";
    default:
      return absl::StrCat("TYPE", type);
  }
}

absl::StatusOr<int> RcodeFromName(absl::string_view name) {
  std::string n = absl::AsciiStrToUpper(name);
  for (int rc = 0; rc <= kRefused; ++rc) {
    if (n == RcodeName(rc)) {
      return rc;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown rcode \"", name, "\" (NOERROR NXDOMAIN SERVFAIL REFUSED)"));
}

std::string RcodeName(int rcode) {
  switch (rcode) {
    case kNoError:
      return "NOERROR";
    case kFormErr:
      return "FORMERR";
    case kServFail:
      return "SERVFAIL";
    case kNxDomain:
      return "NXDOMAIN";
    case kNotImp:
      return "NOTIMP";
    case kRefused:
      return "REFUSED";
    default:
      return absl::StrCat("RCODE", rcode);
  }
}

absl::StatusOr<std::string> EncodeRdata(uint16_t type, absl::string_view text) {
  std::string t(absl::StripAsciiWhitespace(text));
  std::vector<std::string> parts = absl::StrSplit(t, ' ', absl::SkipWhitespace());
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(TypeName(type), " data \"", text, "\": ", why));
  };
  switch (type) {
    case kTypeA: {
      unsigned char b[4];
      if (inet_pton(AF_INET, t.c_str(), b) != 1) {
        return bad("not an IPv4 address");
      }
      return std::string(reinterpret_cast<char*>(b), 4);
    }
    case kTypeAAAA: {
      unsigned char b[16];
      if (inet_pton(AF_INET6, t.c_str(), b) != 1) {
        return bad("not an IPv6 address");
      }
      return std::string(reinterpret_cast<char*>(b), 16);
    }
    case kTypeCNAME:
    case kTypeNS: {
      if (parts.size() != 1) {
        return bad("expected one name");
      }
      auto n = EncodeName(parts[0]);
      if (!n.ok()) {
        return bad(n.status().message());
      }
      return *n;
    }
    case kTypeMX: {
      uint32_t pref;
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &pref) || pref > 0xFFFF) {
        return bad("expected \"PREFERENCE NAME\"");
      }
      auto n = EncodeName(parts[1]);
      if (!n.ok()) {
        return bad(n.status().message());
      }
      std::string out;
      PutU16(&out, static_cast<uint16_t>(pref));
      return out + *n;
    }
    case kTypeTXT: {
      std::string out;
      absl::string_view rest = text;
      do {
        absl::string_view chunk = rest.substr(0, 255);
        out.push_back(static_cast<char>(chunk.size()));
        out.append(chunk.data(), chunk.size());
        rest.remove_prefix(chunk.size());
      } while (!rest.empty());
      if (out.size() > 0xFFFF) {
        return bad("too long");
      }
      return out;
    }
    case kTypeSOA: {
      if (parts.size() != 7) {
        return bad("expected \"MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM\"");
      }
      std::string out;
      for (int i = 0; i < 2; ++i) {
        auto n = EncodeName(parts[i]);
        if (!n.ok()) {
          return bad(n.status().message());
        }
        out += *n;
      }
      for (int i = 2; i < 7; ++i) {
        uint32_t v;
        if (!absl::SimpleAtoi(parts[i], &v)) {
          return bad("numbers must be 0..4294967295");
        }
        PutU32(&out, v);
      }
      return out;
    }
    default:
      return bad("type not supported in rules");
  }
}

std::string RdataToText(uint16_t type, absl::string_view rdata) {
  char buf[INET6_ADDRSTRLEN];
  size_t p = 0;
  auto u32 = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<uint8_t>(rdata[at])) << 24) |
           (static_cast<uint32_t>(static_cast<uint8_t>(rdata[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<uint8_t>(rdata[at + 2])) << 8) |
           static_cast<uint8_t>(rdata[at + 3]);
  };
  switch (type) {
    case kTypeA:
      if (rdata.size() == 4 && inet_ntop(AF_INET, rdata.data(), buf, sizeof buf)) {
        return buf;
      }
      break;
    case kTypeAAAA:
      if (rdata.size() == 16 && inet_ntop(AF_INET6, rdata.data(), buf, sizeof buf)) {
        return buf;
      }
      break;
    case kTypeCNAME:
    case kTypeNS:
      return NameText(rdata, &p);
    case kTypeMX:
      if (rdata.size() >= 3) {
        int pref = (static_cast<uint8_t>(rdata[0]) << 8) | static_cast<uint8_t>(rdata[1]);
        p = 2;
        return absl::StrCat(pref, " ", NameText(rdata, &p));
      }
      break;
    case kTypeTXT: {
      std::string out;
      while (p < rdata.size()) {
        size_t n = static_cast<uint8_t>(rdata[p]);
        absl::string_view piece = rdata.substr(std::min(p + 1, rdata.size()), n);
        out.append(piece.data(), piece.size());
        p += 1 + n;
      }
      return out;
    }
    case kTypeSOA: {
      std::string mname = NameText(rdata, &p);
      std::string rname = NameText(rdata, &p);
      if (p + 20 > rdata.size()) {
        break;
      }
      return absl::StrCat(mname, " ", rname, " ", u32(p), " ", u32(p + 4), " ", u32(p + 8), " ",
                          u32(p + 12), " ", u32(p + 16));
    }
    default:
      break;
  }
  std::string hex;
  for (unsigned char c : rdata) {
    absl::StrAppendFormat(&hex, "%02x", c);
  }
  return absl::StrCat("\\# ", rdata.size(), " ", hex);
}

}  // namespace sonde::faultd::dns
