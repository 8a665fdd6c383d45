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
// The pure builders below are public so that tests and docs pin the wire
// formats.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sonde/v1/check.pb.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::notify {

// Delivers `payload_json` (a version 1 notification document) for `event`
// to `notifier`. `delivery_id` is the outbox row id (receivers dedup on it);
// `now` stamps e-mail Date and Alertmanager endsAt.
absl::Status Deliver(const v1::Notifier& notifier, absl::string_view event,
                     absl::string_view payload_json, int64_t delivery_id, absl::Time now,
                     absl::Duration timeout);

// "webhook", "email", "alertmanager" or "none".
absl::string_view NotifierKind(const v1::Notifier& notifier);

// A notification document read back.
struct Notification {
  std::string event;
  std::string notifier;
  std::string summary;
  absl::Time created_at = absl::UnixEpoch();
  bool has_incident = false;
  v1::Incident incident;
};
absl::StatusOr<Notification> ParseNotification(absl::string_view payload_json);

// "sha256=" + lowercase hex HMAC-SHA256(secret, body).
std::string WebhookSignature(absl::string_view secret, absl::string_view body);

// `url` with "/api/v2/alerts" appended unless it already ends with it.
std::string AlertmanagerAlertsUrl(absl::string_view url);
// The Alertmanager v2 POST body (a JSON array holding one alert).
std::string AlertmanagerBody(const v1::Notifier& notifier, const Notification& notification,
                             absl::Time now);

// The envelope sender: email.from, or "sonde@<hostname>".
std::string EmailFrom(const v1::Notifier& notifier);
// "[Sonde] OPENED PARTIAL_FAILURE app: <summary>" (one line, no CR/LF).
std::string EmailSubject(const Notification& notification);
// The whole RFC 5322 message (headers, blank line, plain-text body), CRLF.
std::string EmailMessage(const v1::Notifier& notifier, const Notification& notification,
                         int64_t delivery_id, absl::Time now);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_H_
