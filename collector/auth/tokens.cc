#include "collector/auth/tokens.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace sonde::collector {
namespace {

constexpr size_t kMinTokenLength = 16;

// The scopes by name, narrowest first: the tokens file and ScopeName read it.
constexpr std::pair<Scope, absl::string_view> kScopeNames[] = {
    {Scope::kRead, "read"}, {Scope::kAck, "ack"}, {Scope::kAdmin, "admin"}};

// Errors of one file, each naming its line.
class FileErrors {
 public:
  explicit FileErrors(std::string path) : path_(std::move(path)) {}
  absl::Status At(const YAML::Mark& mark, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("--tokens ", path_, ":", mark.line + 1, ": ", what));
  }

 private:
  std::string path_;
};

// The scalar at `node[key]`; "" when absent; an error when not a scalar.
absl::StatusOr<std::string> Scalar(const FileErrors& errors, const YAML::Node& node,
                                   const char* key) {
  YAML::Node v = node[key];
  if (!v) {
    return std::string();
  }
  if (!v.IsScalar()) {
    return errors.At(v.Mark(), absl::StrCat(key, ": must be a string"));
  }
  return v.Scalar();
}

absl::StatusOr<Scope> ParseScopes(const FileErrors& errors, const YAML::Node& scopes) {
  if (!scopes) {
    return Scope::kAck;  // what a query token could always do
  }
  if (!scopes.IsSequence() || scopes.size() == 0) {
    return errors.At(scopes.Mark(), "scopes: a list of read, ack, admin");
  }
  Scope widest = Scope::kRead;
  for (const YAML::Node& s : scopes) {
    std::string name = s.IsScalar() ? s.Scalar() : "";
    const auto* named = std::find_if(
        std::begin(kScopeNames), std::end(kScopeNames),
        [&](const std::pair<Scope, absl::string_view>& n) { return n.second == name; });
    if (named == std::end(kScopeNames)) {
      return errors.At(s.Mark(), absl::StrCat("unknown scope \"", name, "\" (read, ack or admin)"));
    }
    const Scope scope = named->first;
    widest = std::max(widest, scope);
  }
  return widest;
}

}  // namespace

absl::string_view ScopeName(Scope scope) {
  for (const auto& [value, name] : kScopeNames) {
    if (value == scope) {
      return name;
    }
  }
  return "?";
}

TokenSet::Digest TokenSet::Hash(absl::string_view token) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data());
  return d;
}

template <typename T>
const T* TokenSet::Find(const std::vector<Entry<T>>& entries, absl::string_view token) {
  if (token.empty()) {
    return nullptr;
  }
  const Digest d = Hash(token);
  const T* found = nullptr;
  for (const Entry<T>& e : entries) {
    // Every entry is compared; the branch below does not end the loop.
    const bool same = CRYPTO_memcmp(e.digest.data(), d.data(), d.size()) == 0;
    found = same ? &e.value : found;
  }
  return found;
}

const ProberIdentity* TokenSet::FindProber(absl::string_view token) const {
  return Find(probers_, token);
}

const QueryTokenInfo* TokenSet::FindQuery(absl::string_view token) const {
  return Find(queries_, token);
}

absl::StatusOr<TokenSet> TokenSet::Load(const std::string& path) {
  const FileErrors errors(path);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::InvalidArgumentError(absl::StrCat("--tokens ", path, ": cannot read the file"));
  } catch (const YAML::Exception& e) {
    return errors.At(e.mark, e.msg);
  }
  TokenSet set;
  if (root.IsNull()) {
    return set;
  }
  if (!root.IsMap()) {
    return errors.At(root.Mark(), "expected a mapping with `probers:` and `query:`");
  }
  std::set<Digest> seen_tokens;
  auto check_token = [&](const YAML::Node& at, const std::string& token) -> absl::Status {
    if (token.size() < kMinTokenLength) {
      return errors.At(at.Mark(), absl::StrCat("a token needs ", kMinTokenLength, "+ characters"));
    }
    if (!seen_tokens.insert(Hash(token)).second) {
      return errors.At(at.Mark(), "this token is listed twice");
    }
    return absl::OkStatus();
  };
  for (const auto& kv : root) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
    if (key != "probers" && key != "query") {
      return errors.At(kv.first.Mark(), absl::StrCat("unknown key \"", key, "\" (probers, query)"));
    }
    if (!kv.second.IsNull() && !kv.second.IsSequence()) {
      return errors.At(kv.second.Mark(), absl::StrCat(key, ": must be a list"));
    }
  }
  for (const YAML::Node& p : root["probers"]) {
    if (!p.IsMap()) {
      return errors.At(p.Mark(), "a prober entry is {token, prober_id, region}");
    }
    ProberIdentity id;
    id.via = "token";
    absl::StatusOr<std::string> token = Scalar(errors, p, "token");
    absl::StatusOr<std::string> prober = Scalar(errors, p, "prober_id");
    absl::StatusOr<std::string> region = Scalar(errors, p, "region");
    for (const auto* s : {&token, &prober, &region}) {
      if (!s->ok()) {
        return s->status();
      }
    }
    if (prober->empty() || region->empty()) {
      return errors.At(p.Mark(), "a prober entry needs token, prober_id and region");
    }
    if (absl::Status st = check_token(p, *token); !st.ok()) {
      return st;
    }
    id.prober_id = *prober;
    id.region = *region;
    set.probers_.push_back({Hash(*token), std::move(id)});
  }
  std::set<std::string> names;
  for (const YAML::Node& q : root["query"]) {
    QueryTokenInfo info;
    std::string token;
    if (q.IsScalar()) {
      token = q.Scalar();  // the format of earlier releases
    } else if (q.IsMap()) {
      absl::StatusOr<std::string> t = Scalar(errors, q, "token");
      absl::StatusOr<std::string> name = Scalar(errors, q, "name");
      if (!t.ok()) {
        return t.status();
      }
      if (!name.ok()) {
        return name.status();
      }
      token = *t;
      if (!name->empty()) {
        info.name = *name;
      }
      absl::StatusOr<Scope> scope = ParseScopes(errors, q["scopes"]);
      if (!scope.ok()) {
        return scope.status();
      }
      info.scope = *scope;
    } else {
      return errors.At(q.Mark(), "a query entry is TOKEN or {name, token, scopes}");
    }
    if (absl::Status st = check_token(q, token); !st.ok()) {
      return st;
    }
    if (!info.name.empty() && !names.insert(info.name).second) {
      return errors.At(q.Mark(), absl::StrCat("the name \"", info.name, "\" is used twice"));
    }
    set.queries_.push_back({Hash(token), std::move(info)});
  }
  return set;
}

}  // namespace sonde::collector
