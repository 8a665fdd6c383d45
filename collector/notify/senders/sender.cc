#include "collector/notify/senders/sender.h"

#include "absl/strings/str_cat.h"
#include "collector/notify/senders/alertmanager.h"
#include "collector/notify/senders/email.h"
#include "collector/notify/senders/webhook.h"

namespace sonde::notify {

absl::string_view NotifierKind(const v1::Notifier& notifier) {
  switch (notifier.kind_case()) {
    case v1::Notifier::kWebhook:
      return "webhook";
    case v1::Notifier::kEmail:
      return "email";
    case v1::Notifier::kAlertmanager:
      return "alertmanager";
    default:
      return "none";
  }
}

std::string Delivery::What() const {
  return absl::StrCat(NotifierKind(notifier), " \"", notifier.name(), "\"");
}

absl::Status Deliver(const v1::Notifier& notifier, absl::string_view event,
                     absl::string_view payload_json, int64_t delivery_id, absl::Time now,
                     absl::Duration timeout) {
  const Delivery delivery{notifier, event, payload_json, delivery_id, now, timeout};
  switch (notifier.kind_case()) {
    case v1::Notifier::kWebhook:
      return SendWebhook(delivery);
    case v1::Notifier::kAlertmanager:
      return SendAlertmanager(delivery);
    case v1::Notifier::kEmail:
      return SendEmail(delivery);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("notifier \"", notifier.name(), "\" has no webhook, email or alertmanager"));
  }
}

}  // namespace sonde::notify
