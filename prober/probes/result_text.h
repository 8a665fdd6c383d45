// The text fields of a ProbeResult, kept safe. Every probe passes the text it
// took from a target (reply lines, banners, certificate names, DNS records,
// status messages, curl's error text) through SafeText (common/text/
// safe_text.h) with the cap below where it builds the result. As a last line
// of defence, DeliverResults (probe.h) checks every string field of every
// result with the cheap IsCleanUtf8 and repairs, and counts, any a probe
// missed: one field that is not UTF-8 would make the whole batch of 500
// results unparseable for the spool and the collector. The fields are read
// by their generated accessors (no reflection per result); a unit test
// fails when the proto gains a string field that is not in that list.
//
// Pure functions plus one process-wide counter (atomic); any thread, but
// called on the loop thread.
#ifndef SONDE_PROBER_PROBES_RESULT_TEXT_H_
#define SONDE_PROBER_PROBES_RESULT_TEXT_H_

#include <cstddef>
#include <cstdint>

#include "common/text/safe_text.h"
#include "sonde/v1/result.pb.h"

namespace sonde::prober {

// Caps of target-derived text, per field of a result (docs/operations.md,
// "What a result's text may contain").
// `detail` is composed of the prober's words and target pieces, each piece
// capped at kTargetTextMaxBytes itself.
inline constexpr size_t kDetailMaxBytes = 2 * kTargetTextMaxBytes;
// One certificate SAN: a DNS name has at most 253 characters.
inline constexpr size_t kSanMaxBytes = 256;
// DNS records a result keeps per resolver (all of them are judged).
inline constexpr size_t kDnsAnswersKept = 16;
// The body excerpt in an HTTP_BODY detail and the banner excerpt in a TCP
// detail.
inline constexpr size_t kExcerptMaxBytes = 160;

// Makes every string field of `result` (nested DNS answers included) clean
// UTF-8: a field that is not gets SafeText(field, kDetailMaxBytes). Returns
// the number of fields repaired and adds it to RepairedTextFields().
size_t RepairResultText(v1::ProbeResult* result);

// Fields repaired by RepairResultText since the process started: a probe
// that let target bytes through unmade (a bug, counted in /metrics as
// sonde_prober_result_text_repaired_total).
uint64_t RepairedTextFields();

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_RESULT_TEXT_H_
