// The two transports of faultd's DNS listener, which share one port:
//  - DnsUdpEndpoint owns the UDP socket: reads datagrams, answers each with
//    AnswerDnsQuery (delayed answers wait on loop timers, at most
//    `max_pending` at once), counts outcomes.
//  - DnsTcpSession is one DNS-over-TCP connection (RFC 1035 4.2.2 length
//    prefix, several queries per connection, answers never truncated).
// Both live on the loop thread. The endpoint is owned by the server and
// borrows the SessionHost; sessions are owned like every StreamConnection.
#ifndef SONDE_TESTS_FAULTD_DNS_ENDPOINTS_H_
#define SONDE_TESTS_FAULTD_DNS_ENDPOINTS_H_

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "tests/faultd/dns_responder.h"
#include "tests/faultd/session_host.h"
#include "tests/faultd/sockets.h"
#include "tests/faultd/stream_connection.h"

namespace sonde::faultd {

class DnsUdpEndpoint {
 public:
  DnsUdpEndpoint(SessionHost* host, UniqueFd fd, size_t max_pending);
  ~DnsUdpEndpoint();
  DnsUdpEndpoint(const DnsUdpEndpoint&) = delete;
  DnsUdpEndpoint& operator=(const DnsUdpEndpoint&) = delete;

  // Registers the socket with the loop.
  absl::Status Start();

 private:
  void OnReadable();

  SessionHost* host_;
  UniqueFd fd_;
  size_t max_pending_;
  size_t pending_ = 0;  // delayed answers not sent yet
  bool registered_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class DnsTcpSession : public StreamConnection {
 public:
  using StreamConnection::StreamConnection;

 protected:
  void OnOpen() override;
  void OnInput() override;
  // A client may half-close after its queries: answer them, then close.
  void OnPeerClosed() override;

 private:
  void CloseWhenAnswered();

  int delayed_replies_ = 0;
  bool peer_closed_ = false;
};

// Counts a DNS reply's outcome counters against its rule.
void CountDnsReply(SessionHost* host, const RuleSet& rules, const DnsReply& reply);

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_DNS_ENDPOINTS_H_
