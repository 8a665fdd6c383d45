// The e-mail sender: a plain-text RFC 5322 message built from the
// notification document, sent over SMTP by libcurl (STARTTLS when offered).
// Header values are kept free of CR/LF and RFC 2047-encoded when not ASCII.
// Stateless; any thread; blocks for at most about `timeout`.
#ifndef SONDE_COLLECTOR_NOTIFY_SENDERS_EMAIL_H_
#define SONDE_COLLECTOR_NOTIFY_SENDERS_EMAIL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collector/notify/senders/notification.h"
#include "sonde/v1/check.pb.h"

namespace sonde::notify {

absl::Status SendEmail(const v1::Notifier& notifier, absl::string_view payload, int64_t delivery_id,
                       absl::Time now, absl::Duration timeout);

// The envelope sender: email.from, or "sonde@<hostname>".
std::string EmailFrom(const v1::Notifier& notifier);
// "[Sonde] OPENED PARTIAL_FAILURE app: <summary>" (one line, no CR/LF).
std::string EmailSubject(const Notification& notification);
// The whole RFC 5322 message (headers, blank line, plain-text body), CRLF.
std::string EmailMessage(const v1::Notifier& notifier, const Notification& notification,
                         int64_t delivery_id, absl::Time now);

}  // namespace sonde::notify

#endif  // SONDE_COLLECTOR_NOTIFY_SENDERS_EMAIL_H_
