#include "prober/probes/http/http_probe.h"

#include <errno.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checks/registry.h"
#include "common/net.h"
#include "common/text/safe_text.h"
#include "prober/io/connector.h"
#include "prober/io/curl_multi.h"
#include "prober/io/dns_resolver.h"
#include "prober/probes/cert_fields.h"
#include "prober/probes/dns_fallback.h"
#include "prober/probes/http/user_agent.h"
#include "prober/probes/spare_pool.h"
#include "prober/probes/verify_result.h"

namespace sonde::prober {

using common::EventLoop;
using FC = v1::FailureClass;

// One transfer, pooled with its easy handle by the CurlMulti (which never
// resets it): the options every transfer shares are set once, when it is
// made; Configure() sets per transfer only what differs from what the last
// transfer on this handle left (`applied`), undoing to curl's default what
// that one set and this one does not.
struct HttpProbe::Request : CurlMulti::Transfer {
  Request();
  // Sets the per-check options of `probe`'s transfer on this handle.
  void Configure(const HttpProbe& probe, const RunState& run, EventLoop::MonoTime now);

  HttpProbe* probe = nullptr;
  // The run this transfer is part of; dropped when the transfer goes back
  // to the pool (HttpProbe::ReleaseRequests).
  std::shared_ptr<RunState> run;
  common::UniqueCurlSlist resolve;  // CURLOPT_RESOLVE of this transfer
  uint32_t index = 0;
  bool done = false;
  std::string body;         // at most max_body_bytes kept
  uint64_t body_bytes = 0;  // all bytes received
  uint64_t body_cap = 0;
  bool keep_headers = false;         // the check matches headers
  std::vector<std::string> headers;  // of the last response (when kept)
  char error[CURL_ERROR_SIZE] = {0};
  const common::ProbePolicy* policy = nullptr;  // set when a policy is on
  std::string policy_refusal;                   // the first address it refused

  // What the handle holds besides the shared options, as the last transfer
  // left it. Strings curl copies are compared by value; pointers curl keeps
  // (headers, resolve list, POST body) are set again on every transfer whose
  // check has them, since the last check's may be gone.
  struct Applied {
    std::string url;
    bool resolve = false;
    bool policy_hook = false;  // OPENSOCKETFUNCTION set, proxy off
    std::string interface;     // "" = none
    bool follow = false;
    long max_redirects = -1;
    bool plain_get = true;  // GET without a body: no method or body option set
    std::string ca_file;    // "" = curl's built-in default
    bool insecure = false;
    bool certinfo = false;
  } applied;
};

struct HttpProbe::RunState {
  std::vector<std::unique_ptr<Request>> requests;  // empty between runs
  Done done;
  EventLoop::MonoTime start;
  EventLoop::MonoTime deadline;
  bool finished = false;
  bool resolving = true;
  std::string address;
  uint32_t dns_us = 0;
  DnsFallback fallback;  // used: the name failed, `address` is its last known
  std::string rcode;
  std::vector<std::unique_ptr<v1::ProbeResult>> results;  // the pool's
  uint32_t pending = 0;

  // As new, but the vectors keep their capacity (SparePool reuse).
  void Reset() {
    requests.clear();
    done = nullptr;
    finished = false;
    resolving = true;
    address.clear();
    dns_us = 0;
    fallback = DnsFallback();
    rcode.clear();
    results.clear();
    pending = 0;
  }
};

namespace {

size_t OnBody(char* data, size_t size, size_t n, void* userp) {
  auto* req = static_cast<HttpProbe::Request*>(userp);
  size_t len = size * n;
  req->body_bytes += len;
  if (req->body.size() < req->body_cap) {
    req->body.append(data, std::min<size_t>(len, req->body_cap - req->body.size()));
  }
  return len;  // keep reading: an endless body ends at the deadline
}

size_t OnHeader(char* data, size_t size, size_t n, void* userp) {
  auto* req = static_cast<HttpProbe::Request*>(userp);
  size_t len = size * n;
  if (!req->keep_headers) {
    return len;  // nothing reads them: no string per header line
  }
  absl::string_view line(data, len);
  if (absl::StartsWith(line, "HTTP/")) {
    req->headers.clear();  // a new response
  }
  if (req->headers.size() < 200) {
    req->headers.emplace_back(absl::StripTrailingAsciiWhitespace(line));
  }
  return len;
}

// CURLOPT_OPENSOCKETFUNCTION: curl asks before every connection it opens,
// the pinned first address and every redirect hop alike, so the policy sees
// each address curl is about to connect to. A refused one fails the
// connect (CURLE_COULDNT_CONNECT) and is remembered for the result.
curl_socket_t OnOpenSocket(void* userp, curlsocktype, curl_sockaddr* address) {
  auto* req = static_cast<HttpProbe::Request*>(userp);
  if (absl::Status allowed = req->policy->Check(&address->addr); !allowed.ok()) {
    if (req->policy_refusal.empty()) {
      req->policy_refusal = std::string(allowed.message());
    }
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

uint32_t Micros(curl_off_t v) { return v > 0 ? static_cast<uint32_t>(v) : 0; }

std::chrono::milliseconds Remaining(EventLoop::MonoTime now, EventLoop::MonoTime deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
  return std::max(ms, std::chrono::milliseconds(1));
}

// curl's built-in CURLOPT_CAINFO (what a check without ca_file verifies
// against); null when curl has none.
const char* DefaultCaInfo() {
  static const char* const ca = [] {
    const curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
    return v->age >= CURLVERSION_SEVENTH ? v->cainfo : nullptr;
  }();
  return ca;
}

// A pooled transfer's received body and header lines keep their buffers for
// the next one, up to these sizes.
constexpr size_t kKeptBodyCapacity = 64 << 10;
constexpr size_t kKeptHeaderLines = 32;

}  // namespace

HttpProbe::Request::Request() {
  CURL* e = easy();
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  // A full TLS handshake every time, although the handle is reused.
  curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);  // read only with the policy's hook
}

void HttpProbe::Request::Configure(const HttpProbe& p, const RunState& run,
                                   EventLoop::MonoTime now) {
  CURL* e = easy();
  const v1::HttpSpec& h = p.check_.http();
  const ProbeEnv& env = *p.env_;
  if (applied.url != h.url()) {
    curl_easy_setopt(e, CURLOPT_URL, h.url().c_str());
    applied.url = h.url();
  }
  resolve.reset();
  if (!p.host_is_ip_) {
    std::string addr = run.address.find(':') != std::string::npos
                           ? absl::StrCat("[", run.address, "]")
                           : run.address;
    common::AppendCurlSlist(&resolve, absl::StrCat(p.url_.host, ":", p.url_.port, ":", addr));
    curl_easy_setopt(e, CURLOPT_RESOLVE, resolve.get());
    applied.resolve = true;
  } else if (applied.resolve) {
    curl_easy_setopt(e, CURLOPT_RESOLVE, static_cast<curl_slist*>(nullptr));
    applied.resolve = false;
  }
  long timeout_ms = static_cast<long>(Remaining(now, run.deadline).count());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  policy = env.policy != nullptr && env.policy->enabled() ? env.policy : nullptr;
  if ((policy != nullptr) != applied.policy_hook) {
    if (policy != nullptr) {
      curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &OnOpenSocket);
      // A proxy would connect to the target for us, out of the policy's sight.
      curl_easy_setopt(e, CURLOPT_PROXY, "");
    } else {
      curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
                       static_cast<curl_opensocket_callback>(nullptr));
      curl_easy_setopt(e, CURLOPT_PROXY, static_cast<char*>(nullptr));
    }
  }
  applied.policy_hook = policy != nullptr;
  if (applied.interface != env.source_address) {
    if (env.source_address.empty()) {
      curl_easy_setopt(e, CURLOPT_INTERFACE, static_cast<char*>(nullptr));
    } else {
      curl_easy_setopt(e, CURLOPT_INTERFACE, absl::StrCat("host!", env.source_address).c_str());
    }
    applied.interface = env.source_address;
  }
  const long max_redirects = h.follow_redirects() ? static_cast<long>(h.max_redirects()) : -1;
  if (applied.follow != h.follow_redirects() || applied.max_redirects != max_redirects) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, h.follow_redirects() ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, max_redirects);
    applied.follow = h.follow_redirects();
    applied.max_redirects = max_redirects;
  }
  // An empty method is GET: checks built without the config loader's
  // defaults must not send an empty request method.
  const bool get = h.method().empty() || h.method() == "GET";
  if (!applied.plain_get) {
    // Back to curl's defaults: no body (POSTFIELDS null switches the method
    // to POST, HTTPGET back to GET and off NOBODY), no custom method.
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, -1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, static_cast<char*>(nullptr));
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, static_cast<char*>(nullptr));
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  if (h.method() == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (!get) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, h.method().c_str());
  }
  if (!h.body().empty()) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(h.body().size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, h.body().data());
  }
  applied.plain_get = get && h.body().empty();
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, p.RequestHeaders());
  if (applied.ca_file != h.ca_file()) {
    curl_easy_setopt(e, CURLOPT_CAINFO,
                     h.ca_file().empty() ? DefaultCaInfo() : h.ca_file().c_str());
    applied.ca_file = h.ca_file();
  }
  if (applied.insecure != h.insecure_skip_verify()) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, h.insecure_skip_verify() ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, h.insecure_skip_verify() ? 0L : 2L);
    applied.insecure = h.insecure_skip_verify();
  }
  // The certificate's dates, for CERT_EXPIRING (only https gathers any).
  if (applied.certinfo != p.https_) {
    curl_easy_setopt(e, CURLOPT_CERTINFO, p.https_ ? 1L : 0L);
    applied.certinfo = p.https_;
  }
}

HttpProbe::HttpProbe(const v1::Check& check, ProbeEnv* env)
    : check_(check), env_(env), target_(checks::TargetOf(check)) {
  const v1::HttpSpec& h = check_.http();
  auto url = common::ParseUrl(h.url());
  if (url.ok()) {
    url_ = *url;  // validated at config load
  }
  host_is_ip_ = common::IsIpLiteral(url_.host);
  https_ = url_.scheme == "https";
  for (const std::string& s : h.expect_status()) {
    auto r = common::ParseStatusRange(s);
    if (r.ok()) {
      expect_status_.push_back(*r);
    }
  }
  if (expect_status_.empty()) {
    expect_status_.push_back({200, 399});
  }
  std::string pattern_error;
  expect_body_ = common::CompileCheckPattern("http.expect_body", h.expect_body(), &pattern_error);
  for (const auto& [name, pattern] : h.expect_header()) {
    auto re = common::CompileCheckPattern(absl::StrCat("http.expect_header.", name), pattern,
                                          &pattern_error);
    if (re) {
      expect_headers_.emplace_back(absl::AsciiStrToLower(name), *std::move(re));
    }
  }
  if (!pattern_error.empty()) {
    pattern_error_ = std::make_unique<const std::string>(std::move(pattern_error));
  }
  bool has_ua = false;
  for (const auto& [name, value] : h.headers()) {
    common::AppendCurlSlist(&headers_, absl::StrCat(name, ": ", value));
    has_ua |= absl::EqualsIgnoreCase(name, "User-Agent");
  }
  if (!has_ua && headers_ != nullptr) {
    common::AppendCurlSlist(&headers_, kDefaultUserAgentHeader);
  }
}

// Most checks set no header: they share one list holding only the
// User-Agent (built once, never freed) instead of a copy per check.
curl_slist* HttpProbe::RequestHeaders() const {
  if (headers_ != nullptr) {
    return headers_.get();
  }
  static curl_slist* const shared = curl_slist_append(nullptr, kDefaultUserAgentHeader);
  return shared;
}

HttpProbe::~HttpProbe() {
  if (active_ != nullptr) {
    ReleaseRequests(active_.get());  // removes the running ones from the multi
    active_->finished = true;
  }
}

void HttpProbe::Run(EventLoop::MonoTime deadline, Done done) {
  // A finished run's state (of any HTTP probe) that no late callback holds
  // any more, its vectors' capacity kept; none is kept per check, which would
  // hold a few hundred bytes for every configured check (spare_pool.h).
  std::shared_ptr<RunState> run = SparePool<RunState>::Take();
  run->Reset();
  run->done = std::move(done);
  run->start = env_->loop->Now();
  run->deadline = deadline;
  uint32_t n = std::max<uint32_t>(check_.http().requests_per_run(), 1);
  run->results.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    run->results.push_back(NewResult(*env_));
  }
  active_ = run;
  if (host_is_ip_) {
    // Nothing to resolve (and so no rcode): the transfers start now, without
    // the resolver's answer object and a trip through the loop's queue
    // (curl reports them from the loop, never inside Run()).
    run->resolving = false;
    run->address = url_.host;
    run->pending = n;
    for (uint32_t i = 0; i < n; ++i) {
      StartRequest(run, i, run->start);
    }
    return;
  }
  std::string servers = absl::StrJoin(check_.http().resolvers(), ",");
  env_->resolver->ResolveHost(
      url_.host, servers, Remaining(run->start, deadline), [this, run](DnsResolver::HostAnswer a) {
        if (run->finished) {
          return;
        }
        run->resolving = false;
        run->dns_us = static_cast<uint32_t>(a.elapsed.count());
        run->rcode = a.rcode;
        run->address = env_->resolver->AddressToTry(url_.host, a, &run->fallback);
        if (run->address.empty()) {
          for (auto& r : run->results) {
            r->set_failure_class(a.failure_class);
            r->set_detail(a.detail);
            r->set_dns_us(run->dns_us);
            r->set_total_us(run->dns_us);
            r->set_dns_rcode(a.rcode);
          }
          Finish(run);
          return;
        }
        run->pending = static_cast<uint32_t>(run->results.size());
        const EventLoop::MonoTime now = env_->loop->Now();
        for (uint32_t i = 0; i < run->results.size(); ++i) {
          StartRequest(run, i, now);
        }
      });
}

void HttpProbe::StartRequest(const std::shared_ptr<RunState>& run, uint32_t index,
                             EventLoop::MonoTime now) {
  const v1::HttpSpec& h = check_.http();
  std::unique_ptr<Request> req = env_->curl->Acquire<Request>();
  req->probe = this;
  req->run = run;
  req->index = index;
  req->done = false;
  req->body.clear();
  req->body_bytes = 0;
  req->body_cap = h.max_body_bytes() > 0 ? h.max_body_bytes() : (1 << 20);
  req->keep_headers = !expect_headers_.empty();
  req->headers.clear();
  req->error[0] = '\0';
  req->policy_refusal.clear();
  req->Configure(*this, *run, now);

  Request* raw = req.get();
  run->requests.push_back(std::move(req));
  // Captures one pointer: std::function keeps it without an allocation.
  absl::Status st =
      env_->curl->Add(raw->easy(), [raw](CURLcode code) { raw->probe->OnRequestDone(raw, code); });
  if (!st.ok()) {
    raw->done = true;
    v1::ProbeResult& r = *run->results[index];
    r.set_failure_class(FC::PROBER_ERROR);
    r.set_detail(std::string(st.message()));
    if (--run->pending == 0) {
      env_->loop->Post([this, run] {
        if (!run->finished) {
          Finish(run);
        }
      });
    }
  }
}

void HttpProbe::ReleaseRequests(RunState* run) {
  for (std::unique_ptr<Request>& req : run->requests) {
    req->run.reset();
    if (req->body.capacity() > kKeptBodyCapacity) {
      std::string().swap(req->body);
    }
    if (req->headers.capacity() > kKeptHeaderLines) {
      std::vector<std::string>().swap(req->headers);
    }
    env_->curl->Release(std::move(req));
  }
  run->requests.clear();
}

void HttpProbe::OnRequestDone(Request* req, CURLcode code) {
  std::shared_ptr<RunState> run = req->run;  // Finish releases `req`
  if (run->finished) {
    return;
  }
  req->done = true;
  Evaluate(*run, req, code, run->results[req->index].get());
  if (--run->pending == 0) {
    Finish(run);
  }
}

FC::Code HttpProbe::ClassifyCurl(CURLcode code, long os_errno, long verify_result, bool connected,
                                 bool tls_done, bool is_https) {
  // A reset while curl writes or reads (the handshake too) is a transport
  // failure, as the TLS probe reports it, not a TLS or HTTP disagreement.
  const bool reset = os_errno == ECONNRESET || os_errno == EPIPE;
  switch (code) {
    case CURLE_OK:
      return FC::OK;
    case CURLE_COULDNT_CONNECT:
      // ClassifyConnectErrno reads errno 0 as success; here it means curl
      // did not say why the connect failed.
      return os_errno == 0 ? FC::TCP_UNREACHABLE : ClassifyConnectErrno(static_cast<int>(os_errno));
    case CURLE_OPERATION_TIMEDOUT:
      if (!connected) {
        return FC::TCP_TIMEOUT;
      }
      if (is_https && !tls_done) {
        return FC::TLS_HANDSHAKE;
      }
      return FC::HTTP_TIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      // curl checks the host name itself, before it reads the chain's verify
      // result, so a name mismatch leaves CURLINFO_SSL_VERIFYRESULT at curl's
      // initial value (!X509_V_OK, which is X509_V_ERR_UNSPECIFIED);
      // X509_V_OK is kept for other TLS backends.
      if (verify_result == X509_V_OK || verify_result == X509_V_ERR_UNSPECIFIED) {
        return FC::TLS_CERT_HOSTNAME;
      }
      return ClassifyVerifyResult(verify_result);
    case CURLE_SSL_CONNECT_ERROR:
      return reset ? FC::TCP_RESET : FC::TLS_HANDSHAKE;
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
      return FC::TLS_HANDSHAKE;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return reset ? FC::TCP_RESET : FC::HTTP_PROTOCOL;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return FC::HTTP_PROTOCOL;
    case CURLE_TOO_MANY_REDIRECTS:
      return FC::HTTP_STATUS;
    default:
      return FC::PROBER_ERROR;
  }
}

void HttpProbe::Evaluate(const RunState& run, Request* req, CURLcode code, v1::ProbeResult* r) {
  CURL* e = req->easy();
  curl_off_t t_dns = 0, t_connect = 0, t_tls = 0, t_pre = 0, t_first = 0, t_total = 0;
  curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &t_dns);
  curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &t_connect);
  curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &t_tls);
  curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &t_pre);
  curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &t_first);
  curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t_total);
  long status = 0, os_errno = 0, verify = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  if (code != CURLE_OK) {
    // Only a failure's class reads them (ClassifyCurl).
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(e, CURLINFO_SSL_VERIFYRESULT, &verify);
  }
  char* ip = nullptr;
  curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip);
  const bool have_ip = ip != nullptr && ip[0] != '\0';

  r->set_request_index(req->index);
  r->set_dns_us(run.dns_us);
  r->set_dns_rcode(run.rcode);
  if (t_connect > 0) {
    r->set_connect_us(Micros(t_connect - t_dns));
  }
  if (t_tls > 0) {
    r->set_tls_us(Micros(t_tls - t_connect));
  }
  if (t_first > 0) {
    r->set_first_byte_us(Micros(t_first - t_pre));
  }
  r->set_total_us(run.dns_us + Micros(t_total));
  r->set_http_status(static_cast<int32_t>(status));
  if (have_ip) {
    r->set_resolved_address(ip);
  }
  r->set_body_bytes(req->body_bytes);
  curl_certinfo* certs = nullptr;
  if (https_ && curl_easy_getinfo(e, CURLINFO_CERTINFO, &certs) == CURLE_OK && certs != nullptr &&
      certs->num_of_certs > 0) {
    SetCertificateFromCurl(certs, absl::Now(), r);
  }

  FC::Code fc = ClassifyCurl(code, os_errno, verify, t_connect > 0, t_tls > 0, https_);
  // Written into one buffer kept by the loop thread: no string per run.
  static thread_local std::string detail;
  // "HTTP <status> from <address the answer came from>".
  auto status_from = [&] {
    detail.assign("HTTP ");
    absl::StrAppend(&detail, status, " from ");
    if (have_ip) {
      long port = 0;
      curl_easy_getinfo(e, CURLINFO_PRIMARY_PORT, &port);
      common::AppendHostPort(&detail, ip, static_cast<int>(port));
    } else {
      common::AppendHostPort(&detail, run.address, url_.port);
    }
  };
  if (fc != FC::OK && !req->policy_refusal.empty()) {
    fc = FC::PROBER_POLICY;
    long redirects = 0;
    curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &redirects);
    char* next = nullptr;
    curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &next);
    detail = redirects == 0
                 ? req->policy_refusal
                 : absl::StrCat(req->policy_refusal, " (redirect ", redirects, " to ",
                                SafeText(next != nullptr ? next : "?", kTargetTextMaxBytes), ")");
  } else if (fc != FC::OK) {
    // curl's text may quote what the server sent.
    detail = SafeText(req->error[0] != '\0' ? req->error : curl_easy_strerror(code),
                      kTargetTextMaxBytes);
  } else {
    const v1::HttpSpec& h = check_.http();
    bool status_ok = false;
    for (const auto& range : expect_status_) {
      status_ok |= status >= range.lo && status <= range.hi;
    }
    if (h.fail_on_redirect() && status >= 300 && status < 400) {
      status_ok = false;
    }
    if (!status_ok) {
      fc = FC::HTTP_STATUS;
      status_from();
      absl::StrAppend(&detail, ", expected ",
                      absl::StrJoin(h.expect_status().empty()
                                        ? std::vector<std::string>{"200-399"}
                                        : std::vector<std::string>(h.expect_status().begin(),
                                                                   h.expect_status().end()),
                                    ","));
    } else if (pattern_error_ != nullptr) {
      fc = FC::PROBER_ERROR;
      detail = *pattern_error_;
    } else if (expect_body_ && !expect_body_->Search(req->body)) {
      fc = FC::HTTP_BODY;
      detail = absl::StrCat(
          "body does not match /", h.expect_body(), "/ (first bytes: \"",
          SafeText(absl::string_view(req->body).substr(0, kExcerptMaxBytes), kExcerptMaxBytes),
          "\")");
    } else {
      for (const auto& [name, re] : expect_headers_) {
        bool matched = false;
        absl::string_view seen;  // the last value of that header, for the detail
        for (const std::string& line : req->headers) {
          size_t colon = line.find(':');
          if (colon == std::string::npos) {
            continue;
          }
          if (absl::AsciiStrToLower(line.substr(0, colon)) != name) {
            continue;
          }
          seen = absl::StripAsciiWhitespace(absl::string_view(line).substr(colon + 1));
          matched |= re.Search(seen);
        }
        if (!matched) {
          fc = FC::HTTP_HEADER;
          detail = absl::StrCat("header ", name, " missing or not matching");
          if (!seen.empty()) {
            absl::StrAppend(&detail, " (\"", SafeText(seen, kExcerptMaxBytes), "\")");
          }
          break;
        }
      }
    }
    if (fc == FC::OK) {
      status_from();
    }
  }
  // When the name failed, what the server at its last known address did is evidence.
  SetOutcome(run.fallback, fc, detail, static_cast<int>(status), r);
}

void HttpProbe::Abort() {
  std::shared_ptr<RunState> run = active_;
  if (run == nullptr || run->finished) {
    return;
  }
  if (run->resolving) {
    // The whole run was the lookup: its time is the DNS phase and the total.
    auto spent = static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(env_->loop->Now() - run->start)
            .count());
    for (auto& r : run->results) {
      r->set_failure_class(FC::DNS_TIMEOUT);
      r->set_detail(
          absl::StrCat("resolving ", url_.host, ": no answer before the check's timeout"));
      r->set_dns_us(spent);
      r->set_total_us(spent);
    }
  }
  for (auto& req : run->requests) {
    if (req->done) {
      continue;
    }
    env_->curl->Remove(req->easy());
    req->done = true;
    Evaluate(*run, req.get(), CURLE_OPERATION_TIMEDOUT, run->results[req->index].get());
  }
  Finish(run);
}

void HttpProbe::Finish(std::shared_ptr<RunState> run) {
  run->finished = true;
  if (active_ == run) {
    active_.reset();
  }
  absl::InlinedVector<v1::ProbeResult*, 4> results;
  for (auto& r : run->results) {
    r->set_target(target_);
    results.push_back(r.get());
  }
  ReleaseRequests(run.get());
  const ProbeEnv& env = *env_;  // outlives the probe; `done` may start another run
  DeliverResults(&run->done, absl::MakeConstSpan(results));
  // `this` may be gone now; `run` is ours (finished: no callback uses it).
  for (auto& r : run->results) {
    GiveResult(env, std::move(r));
  }
  run->results.clear();
  run->done = nullptr;
  SparePool<RunState>::Give(std::move(run));
}

}  // namespace sonde::prober
