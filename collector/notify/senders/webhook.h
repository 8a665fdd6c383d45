// The webhook sender: POSTs the notification document as-is, with
// X-Sonde-Event, X-Sonde-Delivery and (when the notifier has a secret) an
// HMAC-SHA256 X-Sonde-Signature. Stateless; any thread; blocks for at most
// about `timeout`.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_WEBHOOK_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_WEBHOOK_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sonde/v1/check.pb.h"

namespace sonde::notify {

absl::Status SendWebhook(const v1::Notifier& notifier, absl::string_view event,
                         absl::string_view payload, int64_t delivery_id, absl::Duration timeout);

// "sha256=" + lowercase hex HMAC-SHA256(secret, body).
std::string WebhookSignature(absl::string_view secret, absl::string_view body);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_WEBHOOK_H_
