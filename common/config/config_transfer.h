// Central config on the wire, contract 2 (docs/configuration.md, "Central
// config on the wire"): how a region's checks become bounded messages on
// the collector and a verified check set again on the prober.
//
// The collector serialises each check once (CheckBytes), names the set by
// its version (VersionOf: order-independent, so a delta's result can be
// checked) and cuts a transfer -- a full version or a delta against the
// version the prober runs -- into header, chunks of at most
// kMaxConfigMessageBytes and an end marker (BuildTransfer). The prober
// feeds the messages to a TransferAssembler, which refuses a transfer whose
// chunks are missing, out of order, too large or do not match the header's
// SHA-256, and applies a complete one to its CheckSet, which refuses a
// result whose version differs from the header's. Nothing half-received is
// ever applied.
//
// Pure functions and value types; no threads. A TransferAssembler and a
// CheckSet belong to one thread (the prober's config client thread).
#ifndef SONDE_COMMON_CONFIG_CONFIG_TRANSFER_H_
#define SONDE_COMMON_CONFIG_CONFIG_TRANSFER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tls/openssl_handles.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::common {

// The wire contract a prober announces in ProberHello.config_protocol.
inline constexpr uint32_t kConfigProtocol = 2;
// No config message on the wire is larger than this (the gRPC default
// receive limit is 4 MiB; a contract-1 message has no bound).
inline constexpr size_t kMaxConfigMessageBytes = size_t{1} << 20;
// What a chunk's payload may hold: the message less its envelope.
inline constexpr size_t kMaxChunkPayloadBytes = kMaxConfigMessageBytes - 64;
// One check, serialised (a check must fit in a chunk with room to spare).
inline constexpr size_t kMaxCheckBytes = size_t{256} << 10;
// One region's checks, serialised: the largest config a region may have.
inline constexpr uint64_t kMaxRegionConfigBytes = uint64_t{256} << 20;

// The config's size against the limits above: INVALID_ARGUMENT naming the
// check or region above them; a region at 80 % of `region_limit` or more
// adds a line to *warnings (may be null). Regions as in the config (all
// checks in one "every region" row when it lists none).
absl::Status CheckConfigLimits(const v1::Config& config, std::vector<std::string>* warnings,
                               uint64_t region_limit = kMaxRegionConfigBytes);

// A check's deterministic serialisation: what is sent and hashed.
std::string CheckBytes(const v1::Check& check);
// 64-bit FNV-1a of a check's bytes.
uint64_t CheckHash(absl::string_view check_bytes);
// A probe policy's deterministic serialisation; "" when the policy is off.
std::string PolicyBytes(const v1::ProbePolicy& policy);
// The version of a check set and its probe policy: 16 hex digits of FNV-1a
// 64 over the checks sorted by name (name, hash), then the policy's bytes
// when there is one (so configs without a policy keep their versions).
// Equal sets give equal versions everywhere.
std::string VersionOf(const std::map<std::string, uint64_t>& hashes_by_name,
                      absl::string_view policy_bytes = "");

// One transfer's content: whole checks (serialised) and removed names.
struct TransferContent {
  std::string version;                         // the resulting version
  std::string base_version;                    // "" = full
  uint64_t checks = 0;                         // checks in the resulting version
  std::vector<absl::string_view> check_bytes;  // borrowed; full: every check
  std::vector<std::string> removed;            // delta only
  v1::ProbePolicy policy;                      // the resulting version's, whole
};
// Header, chunks (each message <= kMaxConfigMessageBytes) and end marker.
std::vector<v1::ProberConfig> BuildTransfer(const TransferContent& content);
// The bytes `messages` take on the wire (gRPC adds 5 per message).
uint64_t WireBytes(const std::vector<v1::ProberConfig>& messages);

// A received, complete transfer: checks keep the bytes they came in.
struct Transfer {
  std::string version;
  std::string base_version;  // "" = full
  uint64_t checks = 0;
  std::vector<std::string> check_bytes;
  std::vector<std::string> removed;
  v1::ProbePolicy policy;  // the resulting version's, whole
  uint64_t payload_bytes = 0;
};

// Feeds contract-2 messages in order. Feed answers true when `message`
// completed a transfer (take it with Take()), false when more is expected,
// and an error -- the transfer is dropped -- when the sequence is broken.
class TransferAssembler {
 public:
  absl::StatusOr<bool> Feed(const v1::ProberConfig& message);
  Transfer Take() { return std::move(transfer_); }
  bool in_progress() const { return open_; }
  // The version being received ("" when none).
  const std::string& receiving() const { return header_.version(); }

 private:
  absl::Status Open(const v1::ConfigHeader& header);
  absl::Status AddChunk(const v1::ConfigChunk& chunk);
  absl::Status Close(const v1::ConfigEnd& end);

  bool open_ = false;
  v1::ConfigHeader header_;
  uint32_t next_chunk_ = 0;
  Transfer transfer_;
  UniqueEvpMdCtx sha_;
};

// The checks a prober runs, by name, as the bytes they were received in.
class CheckSet {
 public:
  // From checks already parsed (a stored config.pb, a contract-1 message).
  static CheckSet FromChecks(const google::protobuf::RepeatedPtrField<v1::Check>& checks,
                             const v1::ProbePolicy& policy = v1::ProbePolicy());

  // The set `transfer` leads to: a full one replaces, a delta applies to
  // this set. FAILED_PRECONDITION when a delta's base is not this version,
  // DATA_LOSS when a check does not parse or the result's version is not
  // the one the header promised. *this is unchanged on error.
  absl::StatusOr<CheckSet> Apply(const Transfer& transfer) const;

  const std::string& version() const { return version_; }
  size_t size() const { return checks_.size(); }
  // Version, parsed checks sorted by name and the probe policy: what
  // config.pb stores and the scheduler runs.
  v1::ProberConfig ToProberConfig() const;
  // ToProberConfig() serialised, made from the bytes held (nothing parsed).
  std::string ProberConfigBytes() const;

 private:
  struct Entry {
    uint64_t hash = 0;
    std::string bytes;
  };
  void Seal();  // computes version_

  std::map<std::string, Entry> checks_;
  v1::ProbePolicy policy_;
  std::string version_ = VersionOf({});
};

}  // namespace sonde::common

#endif  // SONDE_COMMON_CONFIG_CONFIG_TRANSFER_H_
