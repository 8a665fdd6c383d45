// The webhook sender: POSTs the notification document as-is, with
// X-Sonde-Event, X-Sonde-Delivery and (when the notifier has a secret) a
// timestamped HMAC-SHA256 X-Sonde-Signature, so a receiver can refuse a
// replayed old request. Stateless; any thread; blocks for at most about
// the delivery's `timeout`.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_WEBHOOK_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_WEBHOOK_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "collector/notify/senders/sender.h"

namespace sonde::notify {

// The delivery's `now` stamps the signature (each attempt signs anew).
absl::Status SendWebhook(const Delivery& delivery);

// "t=<unix seconds>,v1=<lowercase hex HMAC-SHA256(secret, "<t>.<body>")>"
// (signature scheme v1, docs/notifications.md).
std::string WebhookSignature(absl::string_view secret, int64_t unix_seconds,
                             absl::string_view body);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_WEBHOOK_H_
