#include "prober/probes/dns_fallback.h"

#include "absl/strings/str_cat.h"
#include "common/text/safe_text.h"
#include "prober/probes/result_text.h"

namespace sonde::prober {

using FC = v1::FailureClass;

void SetOutcome(const DnsFallback& fallback, FC::Code seen, absl::string_view detail,
                int http_status, v1::ProbeResult* r) {
  // The detail quotes target text (each piece made safe where it was
  // read); the whole stays under its cap.
  if (!fallback.used()) {
    r->set_failure_class(seen);
    // Into the (pooled) message's own string: no copy allocated per run.
    AssignSafeText(detail, kDetailMaxBytes, r->mutable_detail());
    return;
  }
  // An HTTP server that answered with the wrong status, body or header still
  // answered: the address is alive, only the name is broken.
  const bool answered =
      seen == FC::OK || (http_status > 0 && (seen == FC::HTTP_STATUS || seen == FC::HTTP_BODY ||
                                             seen == FC::HTTP_HEADER));
  std::string what;
  if (!answered) {
    what = absl::StrCat("fails too (", FC::Code_Name(seen), ")");
  } else if (http_status > 0) {
    what = absl::StrCat("answers ", http_status);
  } else {
    what = "answers";
  }
  r->set_failure_class(fallback.dns_class);
  r->set_detail(absl::StrCat(fallback.dns_detail, "; server at last known address ",
                             fallback.address, " ", what));
  r->set_fallback_address(fallback.address);
  r->set_fallback_class(seen);
  r->set_fallback_http_status(http_status);
}

}  // namespace sonde::prober
