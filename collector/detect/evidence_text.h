// Small text helpers for incident evidence: failure class names, DNS rcodes,
// durations in ms or s. Pure functions; any thread.
#ifndef SONDE_COLLECTOR_DETECT_EVIDENCE_TEXT_H_
#define SONDE_COLLECTOR_DETECT_EVIDENCE_TEXT_H_

#include <string>

namespace sonde::detect {

// DNS_NXDOMAIN .. DNS_UNEXPECTED_ANSWER.
bool IsDnsClass(int failure_class);
// "HTTP_STATUS"; "CLASS_<n>" for a value the enum does not know.
std::string ClassName(int failure_class);
// "NXDOMAIN" for DNS_NXDOMAIN; other classes by name.
std::string Rcode(int failure_class);
// What the server at the last known address of a name that failed to
// resolve did: "server at last known address 192.0.2.10 answers 200"
// (`http_status` > 0), "... answers" (class OK), "... fails too (TCP_REFUSED)".
std::string FallbackText(const std::string& address, int failure_class, int http_status);
// "850ms", "1.25s".
std::string Millis(double us);

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_EVIDENCE_TEXT_H_
