// ResultStamp: the fields of a result that are its check's and its prober's,
// not its probe's (check id, service, kind, prober id, region): the same for
// every run of a check. The Scheduler hands them to its sink beside each
// result instead of copying them into the message; the Uplink writes them
// straight into the result's encoding (encoded_batch.h). Per result, that
// saves five string copies, five UTF-8 checks and a size pass over them.
//
// Every field is valid UTF-8 by construction: check names and services are
// names the config validation accepted, the kind is the check type's, and
// the prober refuses to start with an id or region that is not clean text
// (app.cc). A view: the strings belong to the Scheduler's entry and options,
// and live at least until the sink returns.
#ifndef SONDE_PROBER_PROBES_RESULT_STAMP_H_
#define SONDE_PROBER_PROBES_RESULT_STAMP_H_

#include <string>

#include "absl/strings/string_view.h"
#include "sonde/v1/result.pb.h"

namespace sonde::prober {

struct ResultStamp {
  absl::string_view check_id;
  absl::string_view service;
  absl::string_view kind;
  absl::string_view prober_id;
  absl::string_view region;
};

// Sets the stamp's fields in `r`: for sinks that keep the message itself
// (--once, tests).
inline void ApplyStamp(const ResultStamp& s, v1::ProbeResult* r) {
  r->set_check_id(std::string(s.check_id));
  r->set_service(std::string(s.service));
  r->set_kind(std::string(s.kind));
  r->set_prober_id(std::string(s.prober_id));
  r->set_region(std::string(s.region));
}

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_RESULT_STAMP_H_
