#include "collector/notify/senders/webhook.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "collector/notify/senders/transfer.h"

namespace sonde::notify {

absl::Status SendWebhook(const Delivery& d) {
  const v1::Notifier& notifier = d.notifier;
  const std::string what = d.What();
  if (notifier.webhook().url().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no url"));
  }
  std::vector<std::string> headers = {
      "Content-Type: application/json",
      absl::StrCat("X-Sonde-Event: ", d.event),
      absl::StrCat("X-Sonde-Delivery: ", d.id),
      "User-Agent: sonde-collector",
  };
  if (!notifier.webhook().secret().empty()) {
    headers.push_back(absl::StrCat(
        "X-Sonde-Signature: ",
        WebhookSignature(notifier.webhook().secret(), absl::ToUnixSeconds(d.now), d.payload)));
  }
  return PostJson(what, notifier.webhook().url(), d.payload, headers, d.timeout);
}

std::string WebhookSignature(absl::string_view secret, int64_t unix_seconds,
                             absl::string_view body) {
  // The timestamp is inside the signed bytes, so it cannot be changed
  // without the secret: an old request cannot be replayed as a new one.
  const std::string signed_bytes = absl::StrCat(unix_seconds, ".", body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_bytes.data()), signed_bytes.size(), mac, &len);
  return absl::StrCat(
      "t=", unix_seconds,
      ",v1=", absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(mac), len)));
}

}  // namespace sonde::notify
