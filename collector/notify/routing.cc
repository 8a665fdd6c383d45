#include "collector/notify/routing.h"

#include <algorithm>

#include "common/proto_time.h"

namespace sonde::notify {
namespace {

bool Contains(const google::protobuf::RepeatedPtrField<std::string>& list,
              const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

std::vector<const v1::Notifier*> Routes(const v1::Config& config, const v1::Incident& incident) {
  std::vector<const v1::Notifier*> routes;
  for (const v1::Notifier& n : config.notifiers()) {
    if (n.services_size() == 0) {
      bool escalation_only = false;
      for (const v1::Notifier& other : config.notifiers()) {
        if (&other != &n && !other.escalate_to().empty() && other.escalate_to() == n.name()) {
          escalation_only = true;
          break;
        }
      }
      if (!escalation_only) {
        routes.push_back(&n);
      }
    } else if (Contains(n.services(), incident.service())) {
      routes.push_back(&n);
    }
  }
  return routes;
}

const v1::MaintenanceWindow* ActiveMaintenance(const v1::Config& config,
                                               const v1::Incident& incident, absl::Time at) {
  for (const v1::MaintenanceWindow& w : config.maintenance()) {
    // An unset bound is open: a window without `end` lasts until removed.
    const absl::Time start = w.has_start() ? common::ToTime(w.start()) : absl::InfinitePast();
    const absl::Time end = w.has_end() ? common::ToTime(w.end()) : absl::InfiniteFuture();
    if (at < start || at >= end) {
      continue;
    }
    bool matches = w.services_size() == 0 && w.checks_size() == 0;
    if (!matches && Contains(w.services(), incident.service())) {
      matches = true;
    }
    for (int i = 0; !matches && i < incident.checks_size(); ++i) {
      matches = Contains(w.checks(), incident.checks(i));
    }
    if (matches) {
      return &w;
    }
  }
  return nullptr;
}

}  // namespace sonde::notify
