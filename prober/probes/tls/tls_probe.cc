#include "prober/probes/tls/tls_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/checks/registry.h"
#include "common/net.h"
#include "common/text/safe_text.h"
#include "common/tls/openssl_handles.h"
#include "prober/probes/cert_fields.h"
#include "prober/probes/verify_result.h"

namespace sonde::prober {

using FC = v1::FailureClass;

namespace {

int VersionNumber(const std::string& name) {
  if (name == "TLS1.0") {
    return TLS1_VERSION;
  }
  if (name == "TLS1.1") {
    return TLS1_1_VERSION;
  }
  if (name == "TLS1.2") {
    return TLS1_2_VERSION;
  }
  if (name == "TLS1.3") {
    return TLS1_3_VERSION;
  }
  return 0;
}

std::string VersionName(int v) {
  switch (v) {
    case TLS1_VERSION:
      return "TLS1.0";
    case TLS1_1_VERSION:
      return "TLS1.1";
    case TLS1_2_VERSION:
      return "TLS1.2";
    case TLS1_3_VERSION:
      return "TLS1.3";
    default:
      return absl::StrCat("0x", absl::Hex(v));
  }
}

bool AsnTime(const ASN1_TIME* t, absl::Time* out) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return false;
  }
  *out = absl::FromUnixSeconds(timegm(&tm));
  return true;
}

std::string NameText(X509_NAME* name) {
  if (name == nullptr) {
    return "";
  }
  common::UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) {
    return "";
  }
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

// Whether any of the errors says the peers share no protocol version.
bool AnyVersionError(const std::vector<unsigned long>& codes) {
  for (unsigned long e : codes) {
    if (ERR_GET_LIB(e) != ERR_LIB_SSL) {
      continue;
    }
    switch (ERR_GET_REASON(e)) {
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      case SSL_R_NO_PROTOCOLS_AVAILABLE:
      case SSL_R_VERSION_TOO_LOW:
      case SSL_R_VERSION_TOO_HIGH:
      case SSL_R_UNSUPPORTED_SSL_VERSION:
        return true;
      default:
        break;  // e.g. WRONG_VERSION_NUMBER: the peer does not speak TLS
    }
  }
  return false;
}

// OpenSSL's socket BIO writes with write(2), so a peer that is gone when
// the handshake writes raises SIGPIPE, which kills the prober: a hostile or
// merely flaky target must not be able to do that. This BIO is the socket
// BIO with send(MSG_NOSIGNAL) for writes; the failed write then shows up as
// EPIPE/ECONNRESET like any other socket error.
int NoSigPipeWrite(BIO* bio, const char* data, int len) {
  int fd = -1;
  BIO_get_fd(bio, &fd);
  errno = 0;
  int n = static_cast<int>(send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL));
  BIO_clear_retry_flags(bio);
  if (n <= 0 && BIO_sock_should_retry(n)) {
    BIO_set_retry_write(bio);
  }
  return n;
}

BIO_METHOD* NoSigPipeSocketMethod() {
  static BIO_METHOD* method = [] {
    const BIO_METHOD* socket = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "socket (MSG_NOSIGNAL)");
    BIO_meth_set_write(m, NoSigPipeWrite);
    BIO_meth_set_read(m, BIO_meth_get_read(socket));
    BIO_meth_set_puts(m, BIO_meth_get_puts(socket));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(socket));
    BIO_meth_set_create(m, BIO_meth_get_create(socket));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(socket));
    return m;
  }();  // process lifetime, shared by every probe: never freed
  return method;
}

}  // namespace

TlsProbe::TlsProbe(const v1::Check& check, ProbeEnv* env)
    : ConnectedProbe(check, env,
                     {check.tls().host(), static_cast<int>(check.tls().port()),
                      absl::StrJoin(check.tls().resolvers(), ",")}) {
  ctx_.reset(SSL_CTX_new(TLS_client_method()));
  if (ctx_ == nullptr) {
    ctx_error_ = "SSL_CTX_new failed";
    return;
  }
  // Allow old versions so they can be observed and reported as TLS_VERSION
  // instead of failing as an anonymous handshake error.
  SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_VERSION);
  SSL_CTX_set_cipher_list(ctx_.get(), "DEFAULT:@SECLEVEL=0");
  SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE,
                     nullptr);  // verified after, to describe bad certs
  const std::string& ca = check.tls().ca_file();
  if (!ca.empty() ? SSL_CTX_load_verify_locations(ctx_.get(), ca.c_str(), nullptr) != 1
                  : SSL_CTX_set_default_verify_paths(ctx_.get()) != 1) {
    ctx_error_ = absl::StrCat("loading trust anchors ", ca, ": ", common::OpenSslErrors());
    return;
  }
  ctx_ok_ = true;
}

TlsProbe::~TlsProbe() = default;

void TlsProbe::ReleaseExchange() { ssl_.reset(); }

bool TlsProbe::BeginExchange(FC::Code* fc, std::string* detail) {
  phase_ = Phase::kHandshake;
  if (!ctx_ok_) {
    *fc = FC::PROBER_ERROR;
    *detail = ctx_error_;
    return false;
  }
  return true;
}

void TlsProbe::OnConnected() {
  (void)env()->loop->AddFd(fd(), EPOLLIN, [this](uint32_t ev) { OnSocket(ev); });
  if (check().tls().starttls() == "smtp") {
    phase_ = Phase::kStartTls;
    starttls_step_ = 0;
    smtp_buf_.clear();
    return;  // wait for the server's 220 greeting
  }
  phase_ = Phase::kHandshake;
  tls_start_ = env()->loop->Now();
  StepHandshake();
}

void TlsProbe::OnSocket(uint32_t) {
  if (phase_ == Phase::kStartTls) {
    StepStartTls();
  } else {
    StepHandshake();
  }
}

// SMTP: 220 greeting -> EHLO -> 250 -> STARTTLS -> 220 -> handshake.
void TlsProbe::StepStartTls() {
  char buf[1024];
  while (true) {
    ssize_t n = recv(fd(), buf, sizeof buf, 0);
    if (n > 0) {
      smtp_buf_.append(buf, n);
      if (smtp_buf_.size() > 16384) {
        return Finish(FC::TLS_HANDSHAKE, "STARTTLS: SMTP reply too long");
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    }
    return Finish(n < 0 && errno == ECONNRESET ? FC::TCP_RESET : FC::TLS_HANDSHAKE,
                  "STARTTLS: connection closed during the SMTP dialogue");
  }
  // Complete replies end with a line "NNN text\r\n" (space after the code).
  while (true) {
    size_t eol = smtp_buf_.find("\r\n");
    if (eol == std::string::npos) {
      return;
    }
    std::string line = smtp_buf_.substr(0, eol);
    smtp_buf_.erase(0, eol + 2);
    if (line.size() < 4 || line[3] == '-') {
      continue;  // continuation line
    }
    std::string code = line.substr(0, 3);
    std::string expected = starttls_step_ == 1 ? "250" : "220";
    if (code != expected) {
      return Finish(FC::TLS_HANDSHAKE,
                    absl::StrCat("STARTTLS: server answered \"",
                                 SafeText(absl::string_view(line).substr(0, kExcerptMaxBytes),
                                          kExcerptMaxBytes),
                                 "\", expected ", expected));
    }
    const char* next = starttls_step_ == 0   ? "EHLO sonde.invalid\r\n"
                       : starttls_step_ == 1 ? "STARTTLS\r\n"
                                             : nullptr;
    starttls_step_++;
    if (next == nullptr) {
      phase_ = Phase::kHandshake;
      tls_start_ = env()->loop->Now();
      return StepHandshake();
    }
    send(fd(), next, strlen(next), MSG_NOSIGNAL);
  }
}

void TlsProbe::StepHandshake() {
  const v1::TlsSpec& t = check().tls();
  if (ssl_ == nullptr) {
    ssl_.reset(SSL_new(ctx_.get()));
    common::UniqueBio bio(BIO_new(NoSigPipeSocketMethod()));
    if (ssl_ == nullptr || bio == nullptr) {
      return Finish(FC::PROBER_ERROR, absl::StrCat("TLS setup: ", common::OpenSslErrors()));
    }
    BIO_set_fd(bio.get(), fd(), BIO_NOCLOSE);  // the probe closes fd()
    BIO* raw = bio.release();                  // the SSL owns it from here
    SSL_set_bio(ssl_.get(), raw, raw);
    std::string name = t.server_name().empty() ? t.host() : t.server_name();
    if (!common::IsIpLiteral(name)) {
      SSL_set_tlsext_host_name(ssl_.get(), name.c_str());
    }
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
    if (common::IsIpLiteral(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
    }
  }
  ERR_clear_error();
  int rc = SSL_connect(ssl_.get());
  if (rc == 1) {
    return Evaluate();
  }
  int err = SSL_get_error(ssl_.get(), rc);
  if (err == SSL_ERROR_WANT_READ) {
    (void)env()->loop->ModifyFd(fd(), EPOLLIN);
    return;
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    (void)env()->loop->ModifyFd(fd(), EPOLLOUT);
    return;
  }
  int sys_errno = errno;
  // Classified by OpenSSL's reason codes, not by the text: "wrong version
  // number" is what a peer that does not speak TLS at all produces.
  std::vector<unsigned long> codes;
  std::string why = common::OpenSslErrors(&codes);
  const bool version = AnyVersionError(codes);
  if (err == SSL_ERROR_SYSCALL && sys_errno == ECONNRESET) {
    return Finish(FC::TCP_RESET, "connection reset during the TLS handshake");
  }
  if (why.empty()) {
    why = err == SSL_ERROR_SYSCALL ? "connection closed by the server" : "handshake failed";
  }
  Finish(version ? FC::TLS_VERSION : FC::TLS_HANDSHAKE, absl::StrCat("TLS handshake: ", why));
}

void TlsProbe::Evaluate() {
  const v1::TlsSpec& t = check().tls();
  result().set_tls_us(static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(env()->loop->Now() - tls_start_)
          .count()));
  int version = SSL_version(ssl_.get());
  result().set_tls_version(VersionName(version));
  result().set_tls_cipher(SSL_get_cipher_name(ssl_.get()));
  absl::Time now = absl::Now();
  common::UniqueX509 leaf(SSL_get1_peer_certificate(ssl_.get()));
  if (leaf == nullptr) {
    return Finish(FC::TLS_HANDSHAKE, "server presented no certificate");
  }
  result().set_cert_subject(
      SafeText(NameText(X509_get_subject_name(leaf.get())), kTargetTextMaxBytes));
  result().set_cert_issuer(
      SafeText(NameText(X509_get_issuer_name(leaf.get())), kTargetTextMaxBytes));
  if (common::UniqueGeneralNames sans(static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(leaf.get(), NID_subject_alt_name, nullptr, nullptr)));
      sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()) && i < 100; ++i) {
      GENERAL_NAME* g = sk_GENERAL_NAME_value(sans.get(), i);
      if (g->type == GEN_DNS) {
        const unsigned char* d = ASN1_STRING_get0_data(g->d.dNSName);
        // The certificate's bytes, whatever they are: an IA5String is
        // ASCII only by the standard's word.
        result().add_cert_sans(SafeText(
            absl::string_view(reinterpret_cast<const char*>(d), ASN1_STRING_length(g->d.dNSName)),
            kSanMaxBytes));
      } else if (g->type == GEN_IPADD) {
        int len = ASN1_STRING_length(g->d.iPAddress);
        const unsigned char* d = ASN1_STRING_get0_data(g->d.iPAddress);
        char buf[INET6_ADDRSTRLEN] = {0};
        if (len == 4) {
          inet_ntop(AF_INET, d, buf, sizeof buf);
        }
        if (len == 16) {
          inet_ntop(AF_INET6, d, buf, sizeof buf);
        }
        result().add_cert_sans(buf);
      }
    }
  }
  absl::Time not_before, not_after;
  bool have_times = AsnTime(X509_get0_notBefore(leaf.get()), &not_before) &&
                    AsnTime(X509_get0_notAfter(leaf.get()), &not_after);
  absl::Time earliest = absl::InfiniteFuture();
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_.get());
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    absl::Time na;
    if (AsnTime(X509_get0_notAfter(sk_X509_value(chain, i)), &na)) {
      earliest = std::min(earliest, na);
    }
  }
  if (have_times) {
    SetCertificateTimes(not_before, not_after, earliest, now, &result());
  }

  long verify = SSL_get_verify_result(ssl_.get());
  std::string desc =
      absl::StrCat(result().tls_version(), " ", result().tls_cipher(), ", certificate \"",
                   result().cert_subject(), "\" valid until ", result().cert_not_after(), " (",
                   result().cert_days_left(), " days)");
  FC::Code fc = ClassifyVerifyResult(verify);
  if (fc != FC::OK) {
    return Finish(fc,
                  absl::StrCat("certificate: ", X509_verify_cert_error_string(verify), "; ", desc));
  }
  int min_version = VersionNumber(t.min_version());
  if (min_version != 0 && version < min_version) {
    return Finish(FC::TLS_VERSION, absl::StrCat("negotiated ", result().tls_version(),
                                                ", below the minimum ", t.min_version()));
  }
  if (t.min_days_valid() > 0 &&
      result().cert_days_left() < static_cast<int32_t>(t.min_days_valid())) {
    return Finish(FC::TLS_CERT_EXPIRING,
                  absl::StrCat("certificate expires in ", result().cert_days_left(),
                               " days (minimum ", t.min_days_valid(), "); ", desc));
  }
  Finish(FC::OK, desc);
}

void TlsProbe::AbortExchange(FC::Code* fc, std::string* detail) {
  *fc = FC::TLS_HANDSHAKE;
  *detail = phase_ == Phase::kStartTls
                ? "STARTTLS: no complete SMTP dialogue before the check's timeout"
                : "TLS handshake did not finish before the check's timeout";
}

}  // namespace sonde::prober
