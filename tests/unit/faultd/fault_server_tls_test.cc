// FaultServer's TLS-only and HTTPS listeners: each certificate kind checked
// against the CA with OpenSSL's own verification, version caps, handshake
// failures, and HTTP over TLS.
#include <openssl/x509v3.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/faultd/server_fixture.h"
#include "tests/unit/faultd/test_clients.h"

namespace sonde::faultd::testing {
namespace {

constexpr ListenerKind kTls = ListenerKind::kTls;
constexpr ListenerKind kHttps = ListenerKind::kHttps;

// One rule per certificate kind, selected by SNI "<kind>.test".
std::string RulesPerKind() {
  std::string json = "[";
  for (int i = 0; i < kCertKindCount; ++i) {
    std::string kind(CertKindName(static_cast<CertKind>(i)));
    absl::StrAppend(&json, i ? "," : "", R"({"listener": "tls", "sni": ")", kind,
                    R"(.test", "cert": ")", kind, R"("})");
  }
  return json + "]";
}

TEST_F(FaultServerTest, EveryCertificateKindVerifiesAsExpected) {
  StartServer(RulesPerKind());
  struct Case {
    CertKind kind;
    long verify;
  } cases[] = {
      {CertKind::kValid, X509_V_OK},
      {CertKind::kExpired, X509_V_ERR_CERT_HAS_EXPIRED},
      {CertKind::kNotYetValid, X509_V_ERR_CERT_NOT_YET_VALID},
      {CertKind::kWrongHost, X509_V_ERR_HOSTNAME_MISMATCH},
      {CertKind::kSelfSigned, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT},
      {CertKind::kExpiring, X509_V_OK},
  };
  for (ListenerKind listener : {kTls, kHttps}) {
    for (const Case& c : cases) {
      TlsClientOptions o;
      o.sni = absl::StrCat(CertKindName(c.kind), ".test");
      o.ca_pem = server_->ca_pem();
      TlsResult r = TlsConnect(addr(listener), o);
      ASSERT_TRUE(r.handshake_ok) << CertKindName(c.kind) << ": " << r.error;
      EXPECT_EQ(r.verify_result, c.verify)
          << CertKindName(c.kind) << ": " << X509_verify_cert_error_string(r.verify_result);
      if (c.kind == CertKind::kExpiring) {
        int days = 0, secs = 0;
        ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(r.peer_cert.get()));
        EXPECT_GE(days, 4);
        EXPECT_LE(days, 5);
      }
    }
  }
  StatsSnapshot s = server_->stats();
  EXPECT_EQ(s.Rule(1, "cert_expired"),
            2u);  // tls rules also select https handshakes
  EXPECT_EQ(s.Listener(kTls, "handshakes"), 6u);
}

TEST_F(FaultServerTest, ValidCertificateCoversLocalhostIpsAndExtraNames) {
  StartServer();
  for (const char* host : {"localhost", "127.0.0.1", "app.example.test"}) {
    TlsClientOptions o;
    o.ca_pem = server_->ca_pem();
    o.verify_host = host;
    TlsResult r = TlsConnect(addr(kTls), o);
    ASSERT_TRUE(r.handshake_ok) << r.error;
    if (absl::StrContains(host, "127.")) {
      // IP SANs are checked with X509_check_ip_asc, not the host name check.
      EXPECT_EQ(X509_check_ip_asc(r.peer_cert.get(), host, 0), 1);
    } else {
      EXPECT_EQ(r.verify_result, X509_V_OK) << host;
    }
  }
}

// A rule switches the served certificate at runtime to one that expires in
// N days (still trusted, good names) and back to the fresh one: a renewal.
TEST_F(FaultServerTest, CertDaysServesALeafExpiringInNDaysUntilTheRuleGoes) {
  StartServer();
  auto days_left = [&] {
    TlsClientOptions o;
    o.ca_pem = server_->ca_pem();
    o.verify_host = "localhost";
    TlsResult r = TlsConnect(addr(kTls), o);
    EXPECT_TRUE(r.handshake_ok) << r.error;
    EXPECT_EQ(r.verify_result, X509_V_OK) << X509_verify_cert_error_string(r.verify_result);
    int days = -1;
    int secs = 0;
    if (r.peer_cert != nullptr) {
      ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(r.peer_cert.get()));
    }
    return days;
  };
  EXPECT_GE(days_left(), 89);
  SetRules(R"([{"listener": "tls", "cert_days": 5}])");
  EXPECT_EQ(days_left(), 5);
  EXPECT_EQ(days_left(), 5);  // the same leaf again
  SetRules(R"([{"listener": "tls", "cert_days": 30}])");
  EXPECT_EQ(days_left(), 30);
  EXPECT_EQ(server_->stats().Rule(0, "cert_days_30"), 1u);
  SetRules("[]");
  EXPECT_GE(days_left(), 89);
}

TEST_F(FaultServerTest, CertificatePerSourceAddress) {
  StartServer(R"([{"listener": "tls", "source": "127.0.0.3", "cert": "expired"}])");
  TlsClientOptions o;
  o.ca_pem = server_->ca_pem();
  o.source = "127.0.0.2";
  EXPECT_EQ(TlsConnect(addr(kTls), o).verify_result, X509_V_OK);
  o.source = "127.0.0.3";
  EXPECT_EQ(TlsConnect(addr(kTls), o).verify_result, X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_F(FaultServerTest, MaxVersionCapsTheProtocol) {
  StartServer(R"([{"listener": "tls", "max_version": "TLS1.2"}])");
  TlsClientOptions o;
  TlsResult capped = TlsConnect(addr(kTls), o);
  ASSERT_TRUE(capped.handshake_ok) << capped.error;
  EXPECT_EQ(capped.version, TLS1_2_VERSION);
  o.min_version = TLS1_3_VERSION;
  EXPECT_FALSE(TlsConnect(addr(kTls), o).handshake_ok);
  SetRules("[]");
  EXPECT_EQ(TlsConnect(addr(kTls), o).version, TLS1_3_VERSION);
}

TEST_F(FaultServerTest, HandshakeFailures) {
  StartServer(R"([
    {"listener": "tls", "sni": "alert.test", "handshake_fail": "alert"},
    {"listener": "tls", "sni": "close.test", "handshake_fail": "close"},
    {"listener": "tls", "sni": "garbage.test", "handshake_fail": "garbage"}])");
  for (const char* sni : {"alert.test", "close.test", "garbage.test"}) {
    TlsClientOptions o;
    o.sni = sni;
    TlsResult r = TlsConnect(addr(kTls), o);
    EXPECT_FALSE(r.handshake_ok) << sni;
  }
  StatsSnapshot s = server_->stats();
  EXPECT_EQ(s.Rule(0, "handshake_fail_alert"), 1u);
  EXPECT_EQ(s.Rule(1, "handshake_fail_close"), 1u);
  EXPECT_EQ(s.Rule(2, "handshake_fail_garbage"), 1u);
  // The listener still works.
  EXPECT_TRUE(TlsConnect(addr(kTls), TlsClientOptions()).handshake_ok);
}

TEST_F(FaultServerTest, HttpsServesRulesOverTls) {
  StartServer(R"([
    {"listener": "https", "source": "127.0.0.3", "path_prefix": "/login", "status": 503},
    {"listener": "https", "source": "127.0.0.3", "cert": "wrong_host"}])");
  TlsClientOptions o;
  o.ca_pem = server_->ca_pem();
  o.source = "127.0.0.3";
  o.http_request = "GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  TlsResult login = TlsConnect(addr(kHttps), o);
  ASSERT_TRUE(login.handshake_ok) << login.error;
  EXPECT_EQ(login.verify_result,
            X509_V_ERR_HOSTNAME_MISMATCH);  // rule 1 at the handshake
  EXPECT_TRUE(absl::StartsWith(login.http_response, "HTTP/1.1 503")) << login.http_response;
  o.source = "127.0.0.2";
  o.http_request = "GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  TlsResult other = TlsConnect(addr(kHttps), o);
  EXPECT_EQ(other.verify_result, X509_V_OK);
  EXPECT_TRUE(absl::StartsWith(other.http_response, "HTTP/1.1 200")) << other.http_response;
  EXPECT_TRUE(absl::StrContains(other.http_response, "\r\n\r\nok\n"));
  EXPECT_TRUE(Eventually([&] { return server_->stats().Listener(kHttps, "handshake_ok") == 2; }));
}

TEST_F(FaultServerTest, PlainTextOnTlsListenerIsAHandshakeError) {
  StartServer();
  HttpResult r = HttpGet(addr(kHttps), "/");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(
      Eventually([&] { return server_->stats().Listener(kHttps, "handshake_errors") == 1; }));
}

}  // namespace
}  // namespace sonde::faultd::testing
