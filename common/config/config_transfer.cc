#include "common/config/config_transfer.h"

#include <openssl/sha.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"

namespace sonde::common {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;
// ConfigPayload's field numbers (collector.proto).
constexpr int kPayloadChecks = 1;
constexpr int kPayloadRemoved = 2;

uint64_t Fnv1a(absl::string_view bytes, uint64_t hash) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= kFnvPrime;
  }
  return hash;
}

// A payload's length-delimited field as it is on the wire.
size_t FieldSize(int field, size_t len) {
  return CodedOutputStream::VarintSize32(
             WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) +
         CodedOutputStream::VarintSize64(len) + len;
}

// Cuts `fields` (field number, bytes) into payloads of at most
// kMaxChunkPayloadBytes, in order.
std::vector<std::string> Payloads(const std::vector<std::pair<int, absl::string_view>>& fields) {
  std::vector<std::string> out;
  std::string current;
  for (const auto& [field, bytes] : fields) {
    if (!current.empty() &&
        current.size() + FieldSize(field, bytes.size()) > kMaxChunkPayloadBytes) {
      out.push_back(std::move(current));
      current.clear();
    }
    // Tag and length, then the bytes, appended (a CodedOutputStream per
    // field would grow and zero-fill the string to its capacity each time:
    // quadratic in the chunk size).
    uint8_t head[10];  // two varint32s of at most 5 bytes
    uint8_t* end = CodedOutputStream::WriteVarint32ToArray(
        WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED), head);
    end = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(bytes.size()), end);
    current.append(reinterpret_cast<const char*>(head), end - head);
    current.append(bytes.data(), bytes.size());
  }
  if (!current.empty()) {
    out.push_back(std::move(current));
  }
  return out;
}

std::string Sha256(const std::vector<std::string>& parts) {
  UniqueEvpMdCtx ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  for (const std::string& p : parts) {
    EVP_DigestUpdate(ctx.get(), p.data(), p.size());
  }
  unsigned char md[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

}  // namespace

absl::Status CheckConfigLimits(const v1::Config& config, std::vector<std::string>* warnings,
                               uint64_t region_limit) {
  std::vector<std::string> regions(config.regions().begin(), config.regions().end());
  const bool listed = !regions.empty();
  if (!listed) {
    regions.push_back("every region");
  }
  std::vector<uint64_t> bytes(regions.size(), 0);
  for (const v1::Check& c : config.checks()) {
    const size_t size = c.ByteSizeLong();
    if (size > kMaxCheckBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("check \"", c.name(), "\": ", size, " bytes serialised, more than the ",
                       kMaxCheckBytes >> 10, " KiB a check may have"));
    }
    for (size_t r = 0; r < regions.size(); ++r) {
      if (!listed || c.regions().empty() ||
          std::find(c.regions().begin(), c.regions().end(), regions[r]) != c.regions().end()) {
        bytes[r] += size + 4;  // the field's tag and length
      }
    }
  }
  for (size_t r = 0; r < regions.size(); ++r) {
    const std::string what = absl::StrCat(
        "region \"", regions[r], "\": its checks take ", bytes[r] >> 20, " MiB (", bytes[r],
        " bytes); the limit is ", region_limit >> 20, " MiB (", region_limit, " bytes)");
    if (bytes[r] > region_limit) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, "; split the region or shorten its checks"));
    }
    if (warnings != nullptr && bytes[r] * 5 >= region_limit * 4) {
      warnings->push_back(
          absl::StrCat("warning: ", what, ", ", bytes[r] * 100 / region_limit, " % of it"));
    }
  }
  return absl::OkStatus();
}

std::string CheckBytes(const v1::Check& check) {
  std::string out;
  {
    StringOutputStream sos(&out);
    CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    check.SerializeToCodedStream(&cos);
  }
  return out;
}

uint64_t CheckHash(absl::string_view check_bytes) { return Fnv1a(check_bytes, kFnvOffset); }

std::string PolicyBytes(const v1::ProbePolicy& policy) {
  if (policy.ByteSizeLong() == 0) {
    return "";
  }
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    policy.SerializeToCodedStream(&coded);
  }
  return out;
}

std::string VersionOf(const std::map<std::string, uint64_t>& hashes_by_name,
                      absl::string_view policy_bytes) {
  uint64_t hash = kFnvOffset;
  for (const auto& [name, h] : hashes_by_name) {
    // Length-prefixed name, then the check's hash: no two sets collide by
    // moving bytes between names.
    hash = Fnv1a(absl::StrCat(name.size(), ":", name, ":", absl::Hex(h, absl::kZeroPad16)), hash);
  }
  if (!policy_bytes.empty()) {
    hash = Fnv1a(absl::StrCat("policy ", policy_bytes.size(), ":"), hash);
    hash = Fnv1a(policy_bytes, hash);
  }
  return absl::StrCat(absl::Hex(hash, absl::kZeroPad16));
}

std::vector<v1::ProberConfig> BuildTransfer(const TransferContent& content) {
  std::vector<std::pair<int, absl::string_view>> fields;
  fields.reserve(content.check_bytes.size() + content.removed.size());
  for (absl::string_view b : content.check_bytes) {
    fields.emplace_back(kPayloadChecks, b);
  }
  for (const std::string& name : content.removed) {
    fields.emplace_back(kPayloadRemoved, name);
  }
  std::vector<std::string> payloads = Payloads(fields);
  std::vector<v1::ProberConfig> out;
  out.reserve(payloads.size() + 2);
  v1::ConfigHeader* h = out.emplace_back().mutable_header();
  h->set_version(content.version);
  h->set_base_version(content.base_version);
  h->set_checks(content.checks);
  if (content.policy.ByteSizeLong() > 0) {
    *h->mutable_probe_policy() = content.policy;
  }
  h->set_chunks(static_cast<uint32_t>(payloads.size()));
  uint64_t total = 0;
  for (const std::string& p : payloads) {
    total += p.size();
  }
  h->set_payload_bytes(total);
  h->set_sha256(Sha256(payloads));
  for (size_t i = 0; i < payloads.size(); ++i) {
    v1::ConfigChunk* c = out.emplace_back().mutable_chunk();
    c->set_index(static_cast<uint32_t>(i));
    c->set_payload(std::move(payloads[i]));
  }
  out.emplace_back().mutable_end()->set_version(content.version);
  return out;
}

uint64_t WireBytes(const std::vector<v1::ProberConfig>& messages) {
  uint64_t n = 0;
  for (const v1::ProberConfig& m : messages) {
    n += m.ByteSizeLong() + 5;
  }
  return n;
}

absl::StatusOr<bool> TransferAssembler::Feed(const v1::ProberConfig& message) {
  absl::Status st;
  switch (message.part_case()) {
    case v1::ProberConfig::kHeader:
      st = Open(message.header());
      break;
    case v1::ProberConfig::kChunk:
      st = AddChunk(message.chunk());
      break;
    case v1::ProberConfig::kEnd:
      st = Close(message.end());
      if (st.ok()) {
        return true;
      }
      break;
    case v1::ProberConfig::PART_NOT_SET:
      st = absl::InvalidArgumentError("a config message without a part");
      break;
  }
  if (!st.ok()) {
    open_ = false;
    transfer_ = Transfer();
    return st;
  }
  return false;
}

absl::Status TransferAssembler::Open(const v1::ConfigHeader& header) {
  if (open_) {
    return absl::DataLossError(absl::StrCat("a new header for version ", header.version(),
                                            " while version ", header_.version(), " had ",
                                            next_chunk_, " of ", header_.chunks(), " chunks"));
  }
  if (header.version().empty()) {
    return absl::InvalidArgumentError("a config header without a version");
  }
  header_ = header;
  next_chunk_ = 0;
  transfer_ = Transfer();
  transfer_.version = header.version();
  transfer_.base_version = header.base_version();
  transfer_.checks = header.checks();
  transfer_.policy = header.probe_policy();
  sha_.reset(EVP_MD_CTX_new());
  EVP_DigestInit_ex(sha_.get(), EVP_sha256(), nullptr);
  open_ = true;
  return absl::OkStatus();
}

absl::Status TransferAssembler::AddChunk(const v1::ConfigChunk& chunk) {
  if (!open_) {
    return absl::DataLossError("a config chunk without a header");
  }
  if (chunk.index() != next_chunk_ || next_chunk_ >= header_.chunks()) {
    return absl::DataLossError(absl::StrCat("config chunk ", chunk.index(), " where chunk ",
                                            next_chunk_, " of ", header_.chunks(), " was due"));
  }
  const std::string& p = chunk.payload();
  transfer_.payload_bytes += p.size();
  if (p.size() > kMaxChunkPayloadBytes || transfer_.payload_bytes > header_.payload_bytes()) {
    return absl::DataLossError(
        absl::StrCat("config chunk ", chunk.index(), " is larger than ", "announced"));
  }
  EVP_DigestUpdate(sha_.get(), p.data(), p.size());
  ++next_chunk_;
  CodedInputStream in(reinterpret_cast<const uint8_t*>(p.data()), static_cast<int>(p.size()));
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
        (field != kPayloadChecks && field != kPayloadRemoved)) {
      if (!WireFormatLite::SkipField(&in, tag)) {
        return absl::DataLossError("a config chunk does not parse");
      }
      continue;
    }
    std::string bytes;
    if (!WireFormatLite::ReadBytes(&in, &bytes)) {
      return absl::DataLossError("a config chunk does not parse");
    }
    (field == kPayloadChecks ? transfer_.check_bytes : transfer_.removed)
        .push_back(std::move(bytes));
  }
  if (!in.ConsumedEntireMessage()) {
    return absl::DataLossError("a config chunk does not parse");
  }
  return absl::OkStatus();
}

absl::Status TransferAssembler::Close(const v1::ConfigEnd& end) {
  if (!open_) {
    return absl::DataLossError("a config end marker without a header");
  }
  open_ = false;
  if (end.version() != header_.version() || next_chunk_ != header_.chunks() ||
      transfer_.payload_bytes != header_.payload_bytes()) {
    return absl::DataLossError(absl::StrCat("config version ", header_.version(), " ended after ",
                                            next_chunk_, " of ", header_.chunks(), " chunks (",
                                            transfer_.payload_bytes, " of ",
                                            header_.payload_bytes(), " bytes)"));
  }
  unsigned char md[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  EVP_DigestFinal_ex(sha_.get(), md, &len);
  if (header_.sha256() != absl::string_view(reinterpret_cast<char*>(md), len)) {
    return absl::DataLossError(
        absl::StrCat("config version ", header_.version(), ": SHA-256 of the chunks differs"));
  }
  return absl::OkStatus();
}

CheckSet CheckSet::FromChecks(const google::protobuf::RepeatedPtrField<v1::Check>& checks,
                              const v1::ProbePolicy& policy) {
  CheckSet out;
  out.policy_ = policy;
  for (const v1::Check& c : checks) {
    Entry& e = out.checks_[c.name()];
    e.bytes = CheckBytes(c);
    e.hash = CheckHash(e.bytes);
  }
  out.Seal();
  return out;
}

absl::StatusOr<CheckSet> CheckSet::Apply(const Transfer& transfer) const {
  CheckSet next;
  if (!transfer.base_version.empty()) {
    if (transfer.base_version != version_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a delta against version ", transfer.base_version, ", but this prober runs ", version_));
    }
    next.checks_ = checks_;
  }
  next.policy_ = transfer.policy;
  for (const std::string& name : transfer.removed) {
    next.checks_.erase(name);
  }
  v1::Check parsed;
  for (const std::string& bytes : transfer.check_bytes) {
    if (!parsed.ParseFromString(bytes) || parsed.name().empty()) {
      return absl::DataLossError(
          absl::StrCat("config version ", transfer.version, ": a check does not parse"));
    }
    Entry& e = next.checks_[parsed.name()];
    e.bytes = bytes;
    e.hash = CheckHash(bytes);
  }
  next.Seal();
  if (next.version_ != transfer.version || next.checks_.size() != transfer.checks) {
    return absl::DataLossError(absl::StrCat(
        "config version ", transfer.version, ": the checks received make version ", next.version_,
        " (", next.checks_.size(), " checks, ", transfer.checks, " announced)"));
  }
  return next;
}

v1::ProberConfig CheckSet::ToProberConfig() const {
  v1::ProberConfig out;
  out.set_version(version_);
  if (policy_.ByteSizeLong() > 0) {
    *out.mutable_probe_policy() = policy_;
  }
  out.mutable_checks()->Reserve(static_cast<int>(checks_.size()));
  for (const auto& [name, e] : checks_) {
    out.add_checks()->ParseFromString(e.bytes);
  }
  return out;
}

std::string CheckSet::ProberConfigBytes() const {
  std::string out;
  {
    StringOutputStream sos(&out);
    CodedOutputStream cos(&sos);
    WireFormatLite::WriteString(1, version_, &cos);  // ProberConfig.version
    for (const auto& [name, e] : checks_) {
      WireFormatLite::WriteBytes(2, e.bytes, &cos);  // ProberConfig.checks
    }
    if (policy_.ByteSizeLong() > 0) {
      WireFormatLite::WriteMessage(3, policy_, &cos);  // ProberConfig.probe_policy
    }
  }
  return out;
}

void CheckSet::Seal() {
  std::map<std::string, uint64_t> hashes;
  for (const auto& [name, e] : checks_) {
    hashes.emplace_hint(hashes.end(), name, e.hash);
  }
  version_ = VersionOf(hashes, PolicyBytes(policy_));
}

}  // namespace sonde::common
