// Counters and the stats JSON (see stats.h). Thread-safe.
#include "tests/faultd/stats.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sonde::faultd {
namespace {

uint64_t Lookup(const Counters& c, absl::string_view name) {
  auto it = c.find(name);
  return it == c.end() ? 0 : it->second;
}

void Bump(Counters* c, absl::string_view name, uint64_t n) {
  auto it = c->find(name);
  if (it == c->end()) {
    c->emplace(std::string(name), n);
  } else {
    it->second += n;
  }
}

std::string CountersJson(const Counters& c) {
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : c) {
    absl::StrAppend(&out, first ? "" : ", ", JsonQuote(name), ": ", value);
    first = false;
  }
  return out + "}";
}

}  // namespace

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

uint64_t StatsSnapshot::Listener(ListenerKind kind, absl::string_view counter) const {
  auto it = listeners.find(ListenerName(kind));
  return it == listeners.end() ? 0 : Lookup(it->second, counter);
}

uint64_t StatsSnapshot::Unmatched(ListenerKind kind, absl::string_view counter) const {
  auto it = unmatched.find(ListenerName(kind));
  return it == unmatched.end() ? 0 : Lookup(it->second, counter);
}

uint64_t StatsSnapshot::Rule(int index, absl::string_view counter) const {
  if (index < 0 || static_cast<size_t>(index) >= rules.size()) {
    return 0;
  }
  return Lookup(rules[index], counter);
}

void Stats::BeginGeneration(uint64_t generation, size_t rule_count) {
  absl::MutexLock l(&mu_);
  generation_ = generation;
  rules_.assign(rule_count, Counters());
  fail_sequence_.assign(rule_count, 0);
}

void Stats::Reset() {
  absl::MutexLock l(&mu_);
  for (int i = 0; i < kListenerKindCount; ++i) {
    listeners_[i].clear();
    unmatched_[i].clear();
  }
  for (Counters& c : rules_) {
    c.clear();
  }
  for (uint64_t& s : fail_sequence_) {
    s = 0;
  }
}

void Stats::Add(ListenerKind listener, uint64_t generation, int rule_index,
                absl::string_view counter, uint64_t n) {
  absl::MutexLock l(&mu_);
  int li = static_cast<int>(listener);
  Bump(&listeners_[li], counter, n);
  if (rule_index < 0) {
    Bump(&unmatched_[li], counter, n);
  } else if (generation == generation_ && static_cast<size_t>(rule_index) < rules_.size()) {
    Bump(&rules_[rule_index], counter, n);
  }
}

void Stats::AddListener(ListenerKind listener, absl::string_view counter, uint64_t n) {
  absl::MutexLock l(&mu_);
  Bump(&listeners_[static_cast<int>(listener)], counter, n);
}

bool Stats::NextRequestFails(uint64_t generation, int rule_index, double share,
                             std::optional<uint64_t> seed) {
  if (share <= 0) {
    return false;
  }
  absl::MutexLock l(&mu_);
  if (generation != generation_ || rule_index < 0 ||
      static_cast<size_t>(rule_index) >= fail_sequence_.size()) {
    return false;  // a request of a replaced rule set
  }
  uint64_t n = ++fail_sequence_[rule_index];
  if (seed.has_value()) {
    // splitmix64 of (seed, n): a uniform draw in [0, 1) per request.
    uint64_t z = *seed + n * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53 < share;
  }
  return std::llround(static_cast<double>(n) * share) >
         std::llround(static_cast<double>(n - 1) * share);
}

StatsSnapshot Stats::Snapshot() const {
  absl::MutexLock l(&mu_);
  StatsSnapshot s;
  s.generation = generation_;
  for (int i = 0; i < kListenerKindCount; ++i) {
    std::string name(ListenerName(static_cast<ListenerKind>(i)));
    s.listeners[name] = listeners_[i];
    s.unmatched[name] = unmatched_[i];
  }
  s.rules = rules_;
  return s;
}

std::string StatsToJson(const StatsSnapshot& snapshot, const RuleSet& rules,
                        const std::map<std::string, int>& ports) {
  std::string out =
      absl::StrCat("{\n  \"generation\": ", snapshot.generation, ",\n  \"listeners\": {");
  bool first = true;
  for (const auto& [name, port] : ports) {
    auto counters = snapshot.listeners.find(name);
    auto unmatched = snapshot.unmatched.find(name);
    absl::StrAppend(
        &out, first ? "\n" : ",\n", "    ", JsonQuote(name), ": {\"port\": ", port,
        ", \"counters\": ",
        CountersJson(counters == snapshot.listeners.end() ? Counters() : counters->second),
        ", \"unmatched\": ",
        CountersJson(unmatched == snapshot.unmatched.end() ? Counters() : unmatched->second), "}");
    first = false;
  }
  absl::StrAppend(&out, "\n  },\n  \"rules\": [");
  for (size_t i = 0; i < rules.rules().size(); ++i) {
    const faultd::Rule& r = rules.rules()[i];
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "    {\"index\": ", i,
                    ", \"id\": ", JsonQuote(r.label()),
                    ", \"listener\": ", JsonQuote(r.spec.listener()), ", \"counters\": ",
                    CountersJson(i < snapshot.rules.size() ? snapshot.rules[i] : Counters()), "}");
  }
  absl::StrAppend(&out, rules.rules().empty() ? "" : "\n  ", "]\n}\n");
  return out;
}

}  // namespace sonde::faultd
