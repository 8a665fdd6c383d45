// The e-mail sender: a plain-text RFC 5322 message built from the
// notification document (quoted-printable body, folded and RFC 2047-encoded
// headers: mime.h), sent over SMTP by libcurl. TLS is required (smtps://,
// or STARTTLS that must succeed) unless the notifier says `tls: optional`;
// credentials come from `username` and `password` / `password_file`, never
// from the URL. Stateless; any thread; blocks for at most about the
// delivery's `timeout`.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_EMAIL_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_EMAIL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collector/notify/senders/notification.h"
#include "collector/notify/senders/sender.h"
#include "sonde/v1/check.pb.h"

namespace sonde::notify {

absl::Status SendEmail(const Delivery& delivery);

// The envelope sender: email.from, or "sonde@<hostname>".
std::string EmailFrom(const v1::Notifier& notifier);
// "[Sonde] OPENED PARTIAL_FAILURE app: <summary>" (one line, no CR/LF;
// unencoded: EmailMessage folds and encodes it).
std::string EmailSubject(const Notification& notification);
// The whole RFC 5322 message (headers, blank line, quoted-printable body),
// CRLF line ends, no line over 100 characters.
std::string EmailMessage(const v1::Notifier& notifier, const Notification& notification,
                         int64_t delivery_id, absl::Time now);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_EMAIL_H_
