// DnsResolver: c-ares on the EventLoop. One ares channel per resolver set
// ("" = the system's resolv.conf, or "IP[:port]"), created on first use and
// bound to the prober's source address, so a region's DNS traffic leaves from
// the region's address. c-ares sockets are registered with the loop through
// the sock-state callback; c-ares timeouts drive a loop timer.
//
// Loop thread only. Callbacks run on the loop thread, never from inside the
// call that started the lookup. Also remembers the last address each host
// resolved to, so a probe can still reach a server whose name stopped
// resolving.
#ifndef SONDE_PROBER_IO_DNS_RESOLVER_H_
#define SONDE_PROBER_IO_DNS_RESOLVER_H_

#include <ares.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/event_loop.h"
#include "sonde/v1/result.pb.h"

namespace sonde::prober {

// A probe's way round a name that failed but had resolved before: what the
// resolver said and the last known address tried instead.
struct DnsFallback {
  v1::FailureClass::Code dns_class = v1::FailureClass::OK;  // OK: not used
  std::string dns_detail;                                   // the resolver's words
  std::string address;                                      // the last known address
  bool used() const { return dns_class != v1::FailureClass::OK; }
};

class DnsResolver {
 public:
  struct HostAnswer {
    v1::FailureClass::Code failure_class = v1::FailureClass::OK;
    std::string rcode;                   // NOERROR, NXDOMAIN, SERVFAIL, ...
    std::string detail;                  // empty when OK
    std::vector<std::string> addresses;  // textual IPs, preferred first
    std::chrono::microseconds elapsed{0};
  };
  using HostCallback = std::function<void(HostAnswer)>;

  struct RawAnswer {
    int status = ARES_SUCCESS;          // ares status
    std::vector<unsigned char> packet;  // the raw DNS response, may be empty
    std::chrono::microseconds elapsed{0};
  };
  using RawCallback = std::function<void(RawAnswer)>;

  // `source_address` may be empty (the kernel picks).
  static absl::StatusOr<std::unique_ptr<DnsResolver>> Create(common::EventLoop* loop,
                                                             std::string source_address);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // Resolves `host` (A and AAAA) through `server` ("" = system, or a comma
  // separated list of IP[:port] tried in order). IP literals
  // answer at once (still asynchronously). `timeout` bounds the whole lookup.
  void ResolveHost(const std::string& host, const std::string& server,
                   std::chrono::milliseconds timeout, HostCallback cb);

  // Sends one query of `type` (ns_t_a, ...) for `name` to `server` and hands
  // back the raw response (UDP, TCP retry on truncation by c-ares).
  void Query(const std::string& name, int type, const std::string& server,
             std::chrono::milliseconds timeout, RawCallback cb);

  // The last address `host` resolved to, or "" if never.
  std::string LastKnownAddress(const std::string& host) const;

  // Where a probe of `host` goes after `answer`: its first address; when the
  // name failed but resolved before, the last known address, with the
  // failure in `fallback`; "" when the name failed and never resolved (the
  // lookup's failure is then the result).
  std::string AddressToTry(const std::string& host, const HostAnswer& answer,
                           DnsFallback* fallback) const;

  // Maps an ares status to the failure class and rcode name users see.
  static v1::FailureClass::Code ClassifyStatus(int ares_status, std::string* rcode);

 private:
  struct Channel;
  DnsResolver(common::EventLoop* loop, std::string source_address);
  absl::StatusOr<Channel*> GetChannel(const std::string& server, std::chrono::milliseconds timeout);
  void OnSocketState(Channel* ch, int fd, bool readable, bool writable);
  void Reschedule(Channel* ch);

  common::EventLoop* loop_;
  std::string source_address_;
  // Keyed by server and timeout: c-ares timeouts are per channel.
  std::map<std::string, std::unique_ptr<Channel>> channels_;
  // The channel asked for last (checks mostly share server and timeout):
  // found without making the key. Channels are never removed.
  Channel* last_channel_ = nullptr;
  std::string last_server_;
  int64_t last_timeout_ms_ = -1;
  std::map<std::string, std::string> last_known_;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_IO_DNS_RESOLVER_H_
