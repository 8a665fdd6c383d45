#include "prober/uplink/collector_targets.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/net.h"

namespace sonde::prober {

absl::StatusOr<std::vector<std::string>> ParseCollectorList(const std::string& flag) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (absl::string_view part : absl::StrSplit(flag, ',')) {
    const std::string entry(absl::StripAsciiWhitespace(part));
    if (entry.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", flag, "\": empty entry (want HOST:PORT[,HOST:PORT...])"));
    }
    absl::StatusOr<common::HostPort> hp = common::ParseHostPort(entry, 0);
    if (!hp.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("\"", entry, "\" is not HOST:PORT"));
    }
    if (!seen.insert(common::FormatHostPort(hp->host, hp->port)).second) {
      return absl::InvalidArgumentError(absl::StrCat("\"", entry, "\" is listed twice"));
    }
    out.push_back(entry);
  }
  if (out.size() > kMaxCollectors) {
    return absl::InvalidArgumentError(
        absl::StrCat(out.size(), " collectors listed; at most ", kMaxCollectors));
  }
  return out;
}

CollectorTargets::CollectorTargets(std::vector<Target> targets, uint64_t seed)
    : targets_(std::move(targets)), rng_(seed) {}

std::shared_ptr<CollectorTargets> CollectorTargets::Single(std::shared_ptr<grpc::Channel> channel,
                                                           std::string address) {
  std::vector<Target> one;
  one.push_back(Target{std::move(address), std::move(channel)});
  return std::make_shared<CollectorTargets>(std::move(one));
}

size_t CollectorTargets::current() const {
  absl::MutexLock l(&mu_);
  return current_;
}

size_t CollectorTargets::Failed(size_t index) {
  absl::MutexLock l(&mu_);
  if (index == current_) {
    current_ = (current_ + 1) % targets_.size();
  }
  return current_;
}

size_t CollectorTargets::Prefer(size_t ended) {
  absl::MutexLock l(&mu_);
  if (!spread_) {
    current_ = 0;
  } else if (current_ == ended) {
    current_ = std::uniform_int_distribution<size_t>(0, targets_.size() - 1)(rng_);
  }
  return current_;
}

bool CollectorTargets::LearnSpread(bool spread, size_t streaming) {
  absl::MutexLock l(&mu_);
  spread_ = spread;
  if (!spread || drawn_) {
    return false;
  }
  drawn_ = true;
  const size_t pick = std::uniform_int_distribution<size_t>(0, targets_.size() - 1)(rng_);
  if (pick == streaming) {
    return false;
  }
  current_ = pick;
  return true;
}

bool CollectorTargets::spread() const {
  absl::MutexLock l(&mu_);
  return spread_;
}

void CollectorTargets::Select(size_t index) {
  absl::MutexLock l(&mu_);
  if (index < targets_.size()) {
    current_ = index;
  }
}

}  // namespace sonde::prober
