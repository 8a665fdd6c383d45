#include "common/probe_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sonde::common {
namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// An address as (family, bytes); IPv4-mapped IPv6 becomes IPv4.
struct Address {
  int family = 0;
  std::array<uint8_t, 16> bytes{};
};

Address FromV6(const uint8_t* b) {
  Address a;
  if (std::memcmp(b, kMappedPrefix, sizeof kMappedPrefix) == 0) {
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), b + 12, 4);
  } else {
    a.family = AF_INET6;
    std::memcpy(a.bytes.data(), b, 16);
  }
  return a;
}

bool ParseAddress(const std::string& text, Address* out) {
  uint8_t buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    out->family = AF_INET;
    out->bytes = {};
    std::memcpy(out->bytes.data(), buf, 4);
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    *out = FromV6(buf);
    return true;
  }
  return false;
}

bool Contains(const IpNetwork& n, const Address& a) {
  if (n.family != a.family) {
    return false;
  }
  const int full = n.prefix / 8;
  if (std::memcmp(n.bytes.data(), a.bytes.data(), full) != 0) {
    return false;
  }
  const int rest = n.prefix % 8;
  if (rest == 0) {
    return true;
  }
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (n.bytes[full] & mask) == (a.bytes[full] & mask);
}

// The longest prefix in `networks` containing `a`, or nullptr.
const IpNetwork* Best(const std::vector<IpNetwork>& networks, const Address& a) {
  const IpNetwork* best = nullptr;
  for (const IpNetwork& n : networks) {
    if (Contains(n, a) && (best == nullptr || n.prefix > best->prefix)) {
      best = &n;
    }
  }
  return best;
}

std::string Format(const Address& a) {
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(a.family, a.bytes.data(), buf, sizeof buf);
  return buf;
}

}  // namespace

absl::StatusOr<IpNetwork> ParseNetwork(absl::string_view text) {
  IpNetwork n;
  n.text = std::string(text);
  const size_t slash = text.find('/');
  Address a;
  if (!ParseAddress(std::string(text.substr(0, slash)), &a)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not an IP network (e.g. 10.0.0.0/8, fd00::/8)"));
  }
  // A mapped address stays in the family it was written in for its prefix.
  const bool written_v6 = text.substr(0, slash).find(':') != absl::string_view::npos;
  const int bits = a.family == AF_INET ? 32 : 128;
  n.family = a.family;
  n.bytes = a.bytes;
  n.prefix = bits;
  if (slash != absl::string_view::npos) {
    int prefix = -1;
    if (!absl::SimpleAtoi(text.substr(slash + 1), &prefix) || prefix < 0 ||
        prefix > (written_v6 ? 128 : 32)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\": the prefix length must be 0..", written_v6 ? 128 : 32));
    }
    n.prefix = written_v6 && a.family == AF_INET ? std::max(0, prefix - 96) : prefix;
  }
  for (int bit = n.prefix; bit < bits; ++bit) {
    if (n.bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" has bits set past its /", n.prefix, " prefix"));
    }
  }
  return n;
}

absl::StatusOr<ProbePolicy> ProbePolicy::Create(const v1::ProbePolicy& spec) {
  ProbePolicy p;
  auto add = [](const google::protobuf::RepeatedPtrField<std::string>& list, const char* field,
                std::vector<IpNetwork>* out) -> absl::Status {
    for (int i = 0; i < list.size(); ++i) {
      absl::StatusOr<IpNetwork> n = ParseNetwork(list[i]);
      if (!n.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "]: ", n.status().message()));
      }
      out->push_back(*std::move(n));
    }
    return absl::OkStatus();
  };
  if (absl::Status st = add(spec.deny_networks(), "deny_networks", &p.deny_); !st.ok()) {
    return st;
  }
  if (absl::Status st = add(spec.allow_networks(), "allow_networks", &p.allow_); !st.ok()) {
    return st;
  }
  return p;
}

ProbePolicy ProbePolicy::DenyAll(std::string reason) {
  ProbePolicy p;
  p.deny_all_ = true;
  p.deny_all_reason_ = std::move(reason);
  return p;
}

absl::Status ProbePolicy::Check(absl::string_view ip) const {
  if (!enabled()) {
    return absl::OkStatus();
  }
  Address a;
  if (!ParseAddress(std::string(ip), &a)) {
    return absl::PermissionDeniedError(
        absl::StrCat("probe policy refuses \"", ip, "\": not an IP address"));
  }
  if (deny_all_) {
    return absl::PermissionDeniedError(
        absl::StrCat("probe policy refuses ", Format(a), ": ", deny_all_reason_));
  }
  const IpNetwork* deny = Best(deny_, a);
  const IpNetwork* allow = Best(allow_, a);
  if (allow != nullptr && (deny == nullptr || allow->prefix >= deny->prefix)) {
    return absl::OkStatus();
  }
  if (deny != nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("probe policy refuses ", Format(a), ": in deny_networks ", deny->text));
  }
  if (!allow_.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat("probe policy refuses ", Format(a), ": outside allow_networks"));
  }
  return absl::OkStatus();
}

absl::Status ProbePolicy::Check(const sockaddr* address) const {
  if (!enabled()) {
    return absl::OkStatus();
  }
  Address a;
  if (address != nullptr && address->sa_family == AF_INET) {
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, 4);
  } else if (address != nullptr && address->sa_family == AF_INET6) {
    a = FromV6(reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr));
  } else {
    return absl::PermissionDeniedError("probe policy refuses a non-IP socket address");
  }
  return Check(Format(a));
}

}  // namespace sonde::common
