// Who hears about an incident, and when nobody should: notifier routing
// (services, escalation-only notifiers) and maintenance windows. Pure
// functions over the config; any thread. The OutboxWriter and the
// Dispatcher decide every outbox row with them.
#ifndef SONDE_COLLECTOR_NOTIFY_ROUTING_H_
#define SONDE_COLLECTOR_NOTIFY_ROUTING_H_

#include <vector>

#include "absl/time/time.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::notify {

// The notifiers that get an incident's pages (not escalations): every
// notifier whose `services` is empty or lists incident.service(), except
// notifiers that another notifier names in escalate_to and that list no
// services themselves.
std::vector<const v1::Notifier*> Routes(const v1::Config& config, const v1::Incident& incident);

// The maintenance window covering the incident at `at` (service or one of
// its checks listed, or a window listing neither), or null.
const v1::MaintenanceWindow* ActiveMaintenance(const v1::Config& config,
                                               const v1::Incident& incident, absl::Time at);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_ROUTING_H_
