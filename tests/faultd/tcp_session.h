// TcpBannerSession: one connection on the raw TCP listener. The rule matched
// at accept time decides: reset, close, blackhole, or a banner (after an
// optional delay) followed by line handling (a fixed `respond` text and/or an
// echo per line the client sends; lines are capped at 4 KiB).
//
// Owned by the SessionHost (see StreamConnection); loop thread only.
#ifndef SONDE_TESTS_FAULTD_TCP_SESSION_H_
#define SONDE_TESTS_FAULTD_TCP_SESSION_H_

#include "tests/faultd/stream_connection.h"

namespace sonde::faultd {

class TcpBannerSession : public StreamConnection {
 public:
  using StreamConnection::StreamConnection;

 protected:
  void OnOpen() override;
  void OnInput() override;
  // Half-closed clients still get what was queued for them.
  void OnPeerClosed() override { CloseAfterFlush(); }

 private:
  RuleMatch match_;
  bool blackhole_ = false;
};

// TlsOnlySession: one connection on the TLS-only listener: the handshake
// (certificate, version cap or failure chosen by the ClientHello rule), then
// nothing: input is discarded until the client leaves or idles out.
class TlsOnlySession : public StreamConnection {
 public:
  using StreamConnection::StreamConnection;

 protected:
  void OnOpen() override;
  void OnSecure() override;
  void OnInput() override;
};

}  // namespace sonde::faultd

#endif  // SONDE_TESTS_FAULTD_TCP_SESSION_H_
