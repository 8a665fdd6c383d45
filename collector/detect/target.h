// CheckTarget: the host and protocol a check probes, derived from its spec.
// PROTOCOL_OUTAGE compares checks of one host by protocol; incidents name
// hosts. Pure functions; any thread.
//
//   http url http://h/         -> host h, protocol "http"
//   http url https://h:8443/x  -> host h, protocol "https"
//   tls  host h                -> host h, protocol "tls"
//   tcp  host h port 22        -> host h, protocol "ssh" (21 ftp, 25/587
//                                 smtp, 110 pop3, 143 imap, ...; else
//                                 "tcp/<port>")
//   dns  name n                -> host n, protocol "dns"
#ifndef SONDE_COLLECTOR_DETECT_TARGET_H_
#define SONDE_COLLECTOR_DETECT_TARGET_H_

#include <string>
#include <vector>

#include "sonde/v1/check.pb.h"

namespace sonde::detect {

struct CheckTarget {
  std::string host;      // lower case, no port, no brackets, no trailing dot
  std::string protocol;  // see above; "" when the check has no spec
  int port = 0;
  // The check's DNS servers; empty: the system's.
  std::vector<std::string> resolvers;
};

CheckTarget DeriveTarget(const v1::Check& check);

// Protocol name of a well-known TCP port, "tcp/<port>" otherwise.
std::string TcpProtocolName(int port);

}  // namespace sonde::detect

#endif  // SONDE_COLLECTOR_DETECT_TARGET_H_
