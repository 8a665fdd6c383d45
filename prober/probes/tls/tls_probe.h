// TlsProbe: a non-blocking OpenSSL handshake on the EventLoop (optionally
// after SMTP STARTTLS), then the facts an SRE needs: protocol version and
// cipher; the leaf certificate's subject, SANs, issuer, validity; the
// earliest expiry in the presented chain; chain verification against
// `ca_file` or the system store and the host name check. The handshake
// always completes when the server allows it, so an invalid certificate is
// still described. The connect and the run's bookkeeping are
// ConnectedProbe's. Loop thread only.
#ifndef SONDE_PROBER_PROBES_TLS_TLS_PROBE_H_
#define SONDE_PROBER_PROBES_TLS_TLS_PROBE_H_

#include "common/tls/openssl_handles.h"
#include "prober/probes/connected_probe.h"

namespace sonde::prober {

class TlsProbe : public ConnectedProbe {
 public:
  TlsProbe(const v1::Check& check, ProbeEnv* env);
  ~TlsProbe() override;

 private:
  enum class Phase { kStartTls, kHandshake };
  bool BeginExchange(v1::FailureClass::Code* fc, std::string* detail) override;
  void OnConnected() override;
  void AbortExchange(v1::FailureClass::Code* fc, std::string* detail) override;
  void ReleaseExchange() override;
  void OnSocket(uint32_t events);
  void StepStartTls();
  void StepHandshake();
  void Evaluate();

  common::UniqueSslCtx ctx_;
  bool ctx_ok_ = false;
  std::string ctx_error_;

  // The active run.
  Phase phase_ = Phase::kHandshake;
  common::UniqueSsl ssl_;
  int starttls_step_ = 0;
  std::string smtp_buf_;
  common::EventLoop::MonoTime tls_start_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_PROBES_TLS_TLS_PROBE_H_
