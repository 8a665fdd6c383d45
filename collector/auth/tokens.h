// TokenSet: the bearer tokens of a --tokens file, immutable once loaded.
//
// The file (YAML) names two kinds of token:
//   probers: [{token, prober_id, region}]       a prober's identity (ingest)
//   query:   [TOKEN | {name, token, scopes}]    sondectl, dashboards, scripts
// A query token's scopes are `read` (list and read incidents, availability,
// /metrics), `ack` (acknowledge; includes read) and `admin` (includes ack).
// A query entry without scopes — the plain string of earlier releases, or a
// mapping without `scopes` — keeps the meaning it always had: read and
// acknowledge (scope `ack`), never admin. A token without a name stores
// acknowledgements as before (`by` alone). Docs: docs/operations.md
// "Security".
//
// Only SHA-256 digests of the tokens are kept; a lookup hashes the presented
// token once and compares it with every entry in constant time (no early
// exit), so neither the match nor its position leaks through timing.
// Immutable after Load(); thread-safe.
#ifndef SONDE_COLLECTOR_AUTH_TOKENS_H_
#define SONDE_COLLECTOR_AUTH_TOKENS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sonde::collector {

// What a query token may do. Each scope includes the ones before it.
enum class Scope : uint8_t { kRead = 1, kAck = 2, kAdmin = 3 };
absl::string_view ScopeName(Scope scope);

struct ProberIdentity {
  std::string prober_id;  // "" when unauthenticated (open collector)
  std::string region;
  std::string via;  // "certificate", "token", "none"
};

struct QueryTokenInfo {
  std::string name;  // shown in the timeline beside `by`; "" when unnamed
  Scope scope = Scope::kAck;
};

class TokenSet {
 public:
  // Reads and validates `path`. An error reads "--tokens PATH:LINE: what"
  // (LINE 1-based) and nothing of the file is used.
  static absl::StatusOr<TokenSet> Load(const std::string& path);

  // The entry whose token equals `token`, or null.
  const ProberIdentity* FindProber(absl::string_view token) const;
  const QueryTokenInfo* FindQuery(absl::string_view token) const;

  size_t prober_count() const { return probers_.size(); }
  size_t query_count() const { return queries_.size(); }

 private:
  using Digest = std::array<unsigned char, 32>;
  template <typename T>
  struct Entry {
    Digest digest;
    T value;
  };
  template <typename T>
  static const T* Find(const std::vector<Entry<T>>& entries, absl::string_view token);
  static Digest Hash(absl::string_view token);

  std::vector<Entry<ProberIdentity>> probers_;
  std::vector<Entry<QueryTokenInfo>> queries_;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_AUTH_TOKENS_H_
