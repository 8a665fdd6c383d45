// TlsProbe: a non-blocking OpenSSL handshake on the EventLoop (optionally
// after SMTP STARTTLS), then the facts an SRE needs: protocol version and
// cipher; the leaf certificate's subject, SANs, issuer, validity; the
// earliest expiry in the presented chain; chain verification against
// `ca_file` or the system store and the host name check. The handshake
// always completes when the server allows it, so an invalid certificate is
// still described. Loop thread only.
#ifndef SONDE_PROBER_PROBES_TLS_TLS_PROBE_H_
#define SONDE_PROBER_PROBES_TLS_TLS_PROBE_H_

#include <openssl/ssl.h>

#include "prober/probes/connector.h"
#include "prober/probes/probe.h"

namespace sonde::prober {

// Maps an X509 verification result to the failure class (OK for X509_V_OK).
v1::FailureClass::Code ClassifyVerifyResult(long verify_result);

class TlsProbe : public Probe {
 public:
  TlsProbe(const v1::Check& check, ProbeEnv* env);
  ~TlsProbe() override;
  void Run(common::EventLoop::MonoTime deadline, Done done) override;
  void Abort() override;

 private:
  enum class Phase { kConnecting, kStartTls, kHandshake };
  void OnConnected(Connection c);
  void OnSocket(uint32_t events);
  void StepStartTls();
  void StepHandshake();
  void Evaluate();
  void Finish(v1::FailureClass::Code fc, std::string detail);
  void Cleanup();

  v1::Check check_;
  ProbeEnv* env_;
  Connector connector_;
  SSL_CTX* ctx_ = nullptr;
  bool ctx_ok_ = false;
  std::string ctx_error_;

  bool active_ = false;
  Done done_;
  Phase phase_ = Phase::kConnecting;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  int starttls_step_ = 0;
  std::string smtp_buf_;
  v1::ProbeResult result_;
  Connection conn_;
  common::EventLoop::MonoTime start_;
  common::EventLoop::MonoTime tls_start_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_TLS_TLS_PROBE_H_
