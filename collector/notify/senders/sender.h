// Senders: deliver one notification document (NotificationJson, as stored in
// the outbox) to one configured notifier, synchronously, over libcurl.
//
//   webhook       POST the document as-is (+ event, delivery id, HMAC headers)
//   alertmanager  POST <url>/api/v2/alerts with one alert built from it
//   email         SMTP (libcurl), a plain-text message built from it
//
// Every call creates and frees its own curl easy handle, so Deliver may run
// on any thread, several at once; it blocks for at most about `timeout`.
// Success means the receiver accepted the message (2xx, or SMTP 250 after
// DATA); every other outcome is an error status naming the notifier:
// DEADLINE_EXCEEDED for a timeout, UNAVAILABLE for transport failures and
// refusals, INVALID_ARGUMENT for a notifier or payload that cannot work.
// One file per kind (webhook.h, alertmanager.h, email.h), each sending one
// Delivery, with its pure builders public so that tests and docs pin the
// wire formats.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_SENDER_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_SENDER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::notify {

// One notification on its way to one notifier: what every sender takes.
struct Delivery {
  const v1::Notifier& notifier;
  absl::string_view event;    // OPENED, RESOLVED, REPEAT, ...
  absl::string_view payload;  // the version 1 notification document
  int64_t id;                 // the outbox row id (receivers dedup on it)
  absl::Time now;             // stamps e-mail Date, the webhook signature, Alertmanager endsAt
  absl::Duration timeout;     // the send blocks for at most about this

  // `<kind> "<name>"`: how errors name the notifier.
  std::string What() const;
};

// Delivers `payload_json` (a version 1 notification document) for `event`
// to `notifier`. `delivery_id` is the outbox row id (receivers dedup on it);
// `now` stamps e-mail Date, the webhook signature and Alertmanager endsAt.
absl::Status Deliver(const v1::Notifier& notifier, absl::string_view event,
                     absl::string_view payload_json, int64_t delivery_id, absl::Time now,
                     absl::Duration timeout);

// "webhook", "email", "alertmanager" or "none".
absl::string_view NotifierKind(const v1::Notifier& notifier);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_SENDER_H_
