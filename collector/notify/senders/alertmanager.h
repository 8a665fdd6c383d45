// The Alertmanager v2 sender: turns a notification document into one alert
// (labels, annotations, startsAt/endsAt) and POSTs it to <url>/api/v2/alerts.
// A heartbeat becomes a SondeHeartbeat alert that keeps firing while the
// path works. Stateless; any thread; blocks for at most about the
// delivery's `timeout`.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_ALERTMANAGER_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_ALERTMANAGER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collector/notify/senders/notification.h"
#include "collector/notify/senders/sender.h"
#include "sonde/v1/check.pb.h"

namespace sonde::notify {

absl::Status SendAlertmanager(const Delivery& delivery);

// `url` with "/api/v2/alerts" appended unless it already ends with it.
std::string AlertmanagerAlertsUrl(absl::string_view url);
// The Alertmanager v2 POST body (a JSON array holding one alert).
std::string AlertmanagerBody(const v1::Notifier& notifier, const Notification& notification,
                             absl::Time now);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_ALERTMANAGER_H_
