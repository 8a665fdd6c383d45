// ResultStamp: the fields of a result that are its check's, its prober's
// and its run's, not its probe's (check id, service, kind, prober id,
// region, start time): the same for every result of a run. The Scheduler
// hands them to its sink beside each result instead of copying them into
// the message; the Uplink writes them straight into the result's encoding
// (encoded_batch.h). Per result, that saves five string copies, five UTF-8
// checks, a size pass over them and the start time's message (which a
// pooled result would allocate and free on every run).
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
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "sonde/v1/result.pb.h"

namespace sonde::prober {

struct ResultStamp {
  absl::string_view check_id;
  absl::string_view service;
  absl::string_view kind;
  absl::string_view prober_id;
  absl::string_view region;
  // The run's start; InfinitePast: the message's own start_time holds it
  // (whole messages handed to Uplink::Add without a stamp).
  absl::Time start = absl::InfinitePast();

  bool has_start() const { return start != absl::InfinitePast(); }
};

// Sets the stamp's fields in `r`: for sinks that keep the message itself
// (--once, tests).
inline void ApplyStamp(const ResultStamp& s, v1::ProbeResult* r) {
  r->set_check_id(std::string(s.check_id));
  r->set_service(std::string(s.service));
  r->set_kind(std::string(s.kind));
  r->set_prober_id(std::string(s.prober_id));
  r->set_region(std::string(s.region));
  if (s.has_start()) {
    const common::TimestampFields t = common::ToTimestampFields(s.start);
    r->mutable_start_time()->set_seconds(t.seconds);
    r->mutable_start_time()->set_nanos(t.nanos);
  }
}

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_RESULT_STAMP_H_
