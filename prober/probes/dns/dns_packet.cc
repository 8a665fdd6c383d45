#include "prober/probes/dns/dns_packet.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/code_table.h"

namespace sonde::prober {
namespace {

constexpr int kMaxPointerHops = 64;
constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxRecords = 512;

class Reader {
 public:
  explicit Reader(absl::Span<const uint8_t> p) : p_(p) {}

  bool U8(size_t at, uint8_t* v) const {
    if (at >= p_.size()) {
      return false;
    }
    *v = p_[at];
    return true;
  }
  bool U16(size_t at, uint16_t* v) const {
    if (at + 2 > p_.size()) {
      return false;
    }
    *v = static_cast<uint16_t>(p_[at] << 8 | p_[at + 1]);
    return true;
  }
  bool U32(size_t at, uint32_t* v) const {
    if (at + 4 > p_.size()) {
      return false;
    }
    *v = static_cast<uint32_t>(p_[at]) << 24 | static_cast<uint32_t>(p_[at + 1]) << 16 |
         static_cast<uint32_t>(p_[at + 2]) << 8 | p_[at + 3];
    return true;
  }
  size_t size() const { return p_.size(); }
  const uint8_t* at(size_t i) const { return p_.data() + i; }

  // Reads a (possibly compressed) name at `*pos`; advances `*pos` past it.
  bool Name(size_t* pos, std::string* out) const {
    out->clear();
    size_t cur = *pos;
    bool jumped = false;
    int hops = 0;
    size_t wire_octets = 1;  // the root label
    while (true) {
      uint8_t len;
      if (!U8(cur, &len)) {
        return false;
      }
      if ((len & 0xC0) == 0xC0) {
        uint8_t lo;
        if (!U8(cur + 1, &lo)) {
          return false;
        }
        size_t target = static_cast<size_t>(len & 0x3F) << 8 | lo;
        if (target >= cur || ++hops > kMaxPointerHops) {
          return false;  // only backwards
        }
        if (!jumped) {
          *pos = cur + 2;
        }
        jumped = true;
        cur = target;
        continue;
      }
      if ((len & 0xC0) != 0) {
        return false;  // reserved label types
      }
      if (len == 0) {
        if (!jumped) {
          *pos = cur + 1;
        }
        if (out->empty()) {
          *out = ".";
        }
        return true;
      }
      if (cur + 1 + len > p_.size()) {
        return false;
      }
      wire_octets += 1 + len;
      if (wire_octets > kMaxNameLength) {
        return false;  // RFC 1035 2.3.4
      }
      for (size_t i = 0; i < len; ++i) {
        unsigned char c = p_[cur + 1 + i];
        if (c == '.' || c == '\\') {
          out->push_back('\\');
          out->push_back(static_cast<char>(c));
        } else if (absl::ascii_isgraph(c)) {
          out->push_back(static_cast<char>(c));
        } else {
          absl::StrAppend(out, "\\", absl::Dec(c, absl::kZeroPad3));
        }
      }
      out->push_back('.');
      if (out->size() > kMaxNameLength * 4) {
        return false;
      }
      cur += 1 + len;
    }
  }

 private:
  absl::Span<const uint8_t> p_;
};

std::string Quoted(const uint8_t* d, size_t n) {
  std::string out = "\"";
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = d[i];
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (absl::ascii_isprint(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "\\", absl::Dec(c, absl::kZeroPad3));
    }
  }
  return out + "\"";
}

// "a.b.c.d": what inet_ntop writes, without its sprintf (most of a DNS
// probe's parse when it ran through inet_ntop).
void AssignIpv4(const uint8_t* b, std::string* out) {
  char buf[15];
  char* p = buf;
  for (int i = 0; i < 4; ++i) {
    unsigned v = b[i];
    if (v >= 100) {
      *p++ = static_cast<char>('0' + v / 100);
      v %= 100;
      *p++ = static_cast<char>('0' + v / 10);
    } else if (v >= 10) {
      *p++ = static_cast<char>('0' + v / 10);
    }
    *p++ = static_cast<char>('0' + v % 10);
    if (i < 3) {
      *p++ = '.';
    }
  }
  out->assign(buf, static_cast<size_t>(p - buf));
}

bool RecordData(const Reader& r, uint16_t type, size_t start, size_t len, std::string* out) {
  size_t end = start + len;
  char buf[INET6_ADDRSTRLEN];
  switch (type) {
    case 1:  // A
      if (len != 4) {
        return false;
      }
      AssignIpv4(r.at(start), out);
      return true;
    case 28:  // AAAA
      if (len != 16) {
        return false;
      }
      inet_ntop(AF_INET6, r.at(start), buf, sizeof buf);
      *out = buf;
      return true;
    case 2:     // NS
    case 5:     // CNAME
    case 12: {  // PTR
      size_t pos = start;
      return r.Name(&pos, out) && pos <= end;
    }
    case 15: {  // MX
      uint16_t pref;
      size_t pos = start + 2;
      std::string host;
      if (len < 3 || !r.U16(start, &pref) || !r.Name(&pos, &host) || pos > end) {
        return false;
      }
      *out = absl::StrCat(pref, " ", host);
      return true;
    }
    case 16: {  // TXT: one or more character strings
      size_t pos = start;
      out->clear();
      while (pos < end) {
        uint8_t n;
        if (!r.U8(pos, &n) || pos + 1 + n > end) {
          return false;
        }
        if (!out->empty()) {
          out->push_back(' ');
        }
        *out += Quoted(r.at(pos + 1), n);
        pos += 1 + n;
      }
      return true;
    }
    case 6: {  // SOA
      size_t pos = start;
      std::string mname, rname;
      if (!r.Name(&pos, &mname) || !r.Name(&pos, &rname) || pos + 20 > end) {
        return false;
      }
      uint32_t v[5] = {};
      for (int i = 0; i < 5; ++i) {
        r.U32(pos + 4 * i, &v[i]);
      }
      *out = absl::StrCat(mname, " ", rname, " ", v[0], " ", v[1], " ", v[2], " ", v[3], " ", v[4]);
      return true;
    }
    default: {
      *out = absl::StrCat("\\# ", len, " ");
      for (size_t i = 0; i < len && i < 64; ++i) {
        absl::StrAppend(out, absl::Hex(*r.at(start + i), absl::kZeroPad2));
      }
      return true;
    }
  }
}

}  // namespace

std::string RcodeName(int rcode) {
  // Indexed by the RCODE.
  static constexpr const char* kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                           "NXDOMAIN", "NOTIMP",  "REFUSED"};
  const char* name = common::EnumName(rcode, kNames, nullptr);
  return name != nullptr ? name : absl::StrCat("RCODE", rcode);
}

namespace {

// The record types Sonde names; others read "TYPE<n>".
constexpr common::CodeName kTypes[] = {{1, "A"},    {2, "NS"},  {5, "CNAME"}, {6, "SOA"},
                                       {12, "PTR"}, {15, "MX"}, {16, "TXT"},  {28, "AAAA"}};

}  // namespace

std::string TypeName(uint16_t type) {
  const char* name = common::NameOfCode(type, kTypes);
  return name != nullptr ? name : absl::StrCat("TYPE", type);
}

uint16_t TypeNumber(const std::string& name) {
  return static_cast<uint16_t>(common::CodeOfName(name, kTypes, 0));
}

absl::StatusOr<DnsPacket> ParseDnsPacket(absl::Span<const uint8_t> packet) {
  Reader r(packet);
  DnsPacket out;
  uint16_t flags, qd, an, ns, ar;
  if (!r.U16(0, &out.id) || !r.U16(2, &flags) || !r.U16(4, &qd) || !r.U16(6, &an) ||
      !r.U16(8, &ns) || !r.U16(10, &ar)) {
    return absl::InvalidArgumentError("DNS response shorter than its header");
  }
  if ((flags & 0x8000) == 0) {
    return absl::InvalidArgumentError("DNS packet is not a response");
  }
  out.truncated = (flags & 0x0200) != 0;
  out.rcode = flags & 0x000F;
  size_t pos = 12;
  std::string name;
  for (int i = 0; i < qd; ++i) {
    if (!r.Name(&pos, &name) || pos + 4 > r.size()) {
      return absl::InvalidArgumentError("malformed question section");
    }
    pos += 4;
  }
  auto section = [&](int count, std::vector<DnsRecordData>* into) -> absl::Status {
    for (int i = 0; i < count; ++i) {
      DnsRecordData rec;
      uint16_t cls, rdlen;
      if (!r.Name(&pos, &rec.name) || !r.U16(pos, &rec.type) || !r.U16(pos + 2, &cls) ||
          !r.U32(pos + 4, &rec.ttl) || !r.U16(pos + 8, &rdlen) || pos + 10 + rdlen > r.size()) {
        return absl::InvalidArgumentError(absl::StrCat("malformed record ", i + 1));
      }
      if (!RecordData(r, rec.type, pos + 10, rdlen, &rec.data)) {
        return absl::InvalidArgumentError(
            absl::StrCat("malformed ", TypeName(rec.type), " data in record ", i + 1));
      }
      pos += 10 + rdlen;
      if (into->size() < kMaxRecords) {
        into->push_back(std::move(rec));
      }
    }
    return absl::OkStatus();
  };
  if (auto st = section(an, &out.answers); !st.ok()) {
    return st;
  }
  if (auto st = section(ns, &out.authority); !st.ok()) {
    return st;
  }
  return out;
}

}  // namespace sonde::prober
