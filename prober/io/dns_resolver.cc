#include "prober/io/dns_resolver.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/code_table.h"
#include "common/net.h"

namespace sonde::prober {

using common::EventLoop;

struct DnsResolver::Channel {
  DnsResolver* owner = nullptr;
  ares_channel channel = nullptr;
  std::set<int> fds;
  EventLoop::TimerId timer = 0;
  EventLoop::MonoTime timer_due;  // when `timer` fires (while it is armed)
  ~Channel() {
    if (channel != nullptr) {
      ares_destroy(channel);
    }
  }
};

namespace {
std::chrono::microseconds Since(const common::EventLoop& loop, common::EventLoop::MonoTime start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(loop.Now() - start);
}

struct LibraryInit {
  LibraryInit() { ares_library_init(ARES_LIB_INIT_ALL); }
};
}  // namespace

DnsResolver::DnsResolver(EventLoop* loop, std::string source_address)
    : loop_(loop), source_address_(std::move(source_address)) {}

DnsResolver::~DnsResolver() {
  for (auto& [key, ch] : channels_) {
    for (int fd : ch->fds) {
      loop_->RemoveFd(fd);
    }
    loop_->Cancel(ch->timer);
  }
}

absl::StatusOr<std::unique_ptr<DnsResolver>> DnsResolver::Create(EventLoop* loop,
                                                                 std::string source_address) {
  static LibraryInit init;
  if (!source_address.empty() && !common::IsIpLiteral(source_address)) {
    return absl::InvalidArgumentError(
        absl::StrCat("source address \"", source_address, "\" is not an IP address"));
  }
  return std::unique_ptr<DnsResolver>(new DnsResolver(loop, std::move(source_address)));
}

absl::StatusOr<DnsResolver::Channel*> DnsResolver::GetChannel(const std::string& server,
                                                              std::chrono::milliseconds timeout) {
  if (last_channel_ != nullptr && timeout.count() == last_timeout_ms_ && server == last_server_) {
    return last_channel_;
  }
  std::string key = absl::StrCat(server, "|", timeout.count());
  auto it = channels_.find(key);
  if (it != channels_.end()) {
    last_channel_ = it->second.get();
    last_server_ = server;
    last_timeout_ms_ = timeout.count();
    return last_channel_;
  }

  auto ch = std::make_unique<Channel>();
  ch->owner = this;
  ares_options opts{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
  opts.sock_state_cb = [](void* data, ares_socket_t fd, int readable, int writable) {
    auto* c = static_cast<Channel*>(data);
    c->owner->OnSocketState(c, fd, readable != 0, writable != 0);
  };
  opts.sock_state_cb_data = ch.get();
  // Two tries share the budget; the probe's own deadline is the hard stop.
  opts.timeout = static_cast<int>(std::max<int64_t>(timeout.count() / 2, 100));
  opts.tries = 2;
  opts.flags = ARES_FLAG_NOCHECKRESP;  // SERVFAIL/REFUSED are answers to report
  int rc = ares_init_options(&ch->channel, &opts, mask);
  if (rc != ARES_SUCCESS) {
    return absl::InternalError(absl::StrCat("ares_init_options: ", ares_strerror(rc)));
  }
  if (!server.empty()) {
    std::vector<std::string> parts;
    for (absl::string_view s : absl::StrSplit(server, ',', absl::SkipEmpty())) {
      auto hp = common::ParseHostPort(std::string(s), 53);
      if (!hp.ok()) {
        return hp.status();
      }
      parts.push_back(common::FormatHostPort(hp->host, hp->port));
    }
    std::string csv = absl::StrJoin(parts, ",");
    rc = ares_set_servers_ports_csv(ch->channel, csv.c_str());
    if (rc != ARES_SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("resolver \"", server, "\": ", ares_strerror(rc)));
    }
  }
  if (!source_address_.empty()) {
    in_addr a4;
    in6_addr a6;
    if (inet_pton(AF_INET, source_address_.c_str(), &a4) == 1) {
      ares_set_local_ip4(ch->channel, ntohl(a4.s_addr));
    } else if (inet_pton(AF_INET6, source_address_.c_str(), &a6) == 1) {
      ares_set_local_ip6(ch->channel, a6.s6_addr);
    }
  }
  Channel* raw = ch.get();
  channels_.emplace(key, std::move(ch));
  return raw;
}

void DnsResolver::OnSocketState(Channel* ch, int fd, bool readable, bool writable) {
  uint32_t events = (readable ? uint32_t{EPOLLIN} : 0u) | (writable ? uint32_t{EPOLLOUT} : 0u);
  if (events == 0) {
    loop_->RemoveFd(fd);
    ch->fds.erase(fd);
    return;
  }
  if (ch->fds.count(fd) > 0) {
    (void)loop_->ModifyFd(fd, events);
    return;
  }
  ch->fds.insert(fd);
  (void)loop_->AddFd(fd, events, [this, ch, fd](uint32_t ev) {
    ares_socket_t r = (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD;
    ares_socket_t w = (ev & EPOLLOUT) ? fd : ARES_SOCKET_BAD;
    ares_process_fd(ch->channel, r, w);
    Reschedule(ch);
  });
}

void DnsResolver::Reschedule(Channel* ch) {
  timeval tv;
  if (ares_timeout(ch->channel, nullptr, &tv) == nullptr) {
    return;  // nothing pending; a timer still armed fires once for nothing
  }
  const EventLoop::MonoTime due =
      loop_->Now() + std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  // A timer armed for no later than `due` stays: firing early costs one
  // ares_process_fd that times nothing out and a reschedule, where
  // re-arming on every query sent and every answer read cost a loop timer
  // each (the query just sent times out after those already pending).
  if (ch->timer != 0 && ch->timer_due <= due) {
    return;
  }
  loop_->Cancel(ch->timer);
  ch->timer_due = due;
  ch->timer = loop_->RunAt(due, [this, ch] {
    ch->timer = 0;
    ares_process_fd(ch->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    Reschedule(ch);
  });
}

v1::FailureClass::Code DnsResolver::ClassifyStatus(int status, std::string* rcode) {
  using FC = v1::FailureClass;
  // The RCODE the answer carried; "" when there was no answer to read.
  static constexpr common::CodeName kRcodes[] = {
      {ARES_SUCCESS, "NOERROR"},    {ARES_ENODATA, "NOERROR"},  {ARES_ENOTFOUND, "NXDOMAIN"},
      {ARES_ESERVFAIL, "SERVFAIL"}, {ARES_EREFUSED, "REFUSED"}, {ARES_EFORMERR, "FORMERR"},
      {ARES_EBADRESP, "FORMERR"}};
  // No answer in time, or none will come (cancelled, channel destroyed):
  // DNS_TIMEOUT; other c-ares failures are the prober's.
  static constexpr common::CodeRow<FC::Code> kClasses[] = {{ARES_SUCCESS, FC::OK},
                                                           {ARES_ENOTFOUND, FC::DNS_NXDOMAIN},
                                                           {ARES_EBADNAME, FC::DNS_NXDOMAIN},
                                                           {ARES_ENODATA, FC::DNS_NODATA},
                                                           {ARES_ESERVFAIL, FC::DNS_SERVFAIL},
                                                           {ARES_EFORMERR, FC::DNS_SERVFAIL},
                                                           {ARES_EBADRESP, FC::DNS_SERVFAIL},
                                                           {ARES_EREFUSED, FC::DNS_REFUSED},
                                                           {ARES_ETIMEOUT, FC::DNS_TIMEOUT},
                                                           {ARES_ECONNREFUSED, FC::DNS_TIMEOUT},
                                                           {ARES_ECANCELLED, FC::DNS_TIMEOUT},
                                                           {ARES_EDESTRUCTION, FC::DNS_TIMEOUT}};
  const char* name = common::NameOfCode(status, kRcodes);
  *rcode = name != nullptr ? name : "";
  return common::ValueOfCode(status, kClasses, FC::PROBER_ERROR);
}

void DnsResolver::ResolveHost(const std::string& host, const std::string& server,
                              std::chrono::milliseconds timeout, HostCallback cb) {
  if (common::IsIpLiteral(host)) {
    HostAnswer a;  // no lookup, so no rcode
    a.addresses.push_back(host);
    loop_->Post([cb = std::move(cb), a = std::move(a)]() mutable { cb(std::move(a)); });
    return;
  }
  auto ch = GetChannel(server, timeout);
  if (!ch.ok()) {
    HostAnswer a;
    a.failure_class = v1::FailureClass::PROBER_ERROR;
    a.detail = std::string(ch.status().message());
    loop_->Post([cb = std::move(cb), a = std::move(a)]() mutable { cb(std::move(a)); });
    return;
  }
  struct Pending {
    DnsResolver* self;
    std::string host;
    std::string server;
    common::EventLoop::MonoTime start;
    HostCallback cb;
  };
  auto* p = new Pending{this, host, server, loop_->Now(), std::move(cb)};
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = ARES_AI_NOSORT;
  ares_getaddrinfo(
      (*ch)->channel, host.c_str(), nullptr, &hints,
      [](void* arg, int status, int timeouts, ares_addrinfo* res) {
        std::unique_ptr<Pending> p(static_cast<Pending*>(arg));
        HostAnswer a;
        a.elapsed = Since(*p->self->loop_, p->start);
        a.failure_class = ClassifyStatus(status, &a.rcode);
        if (status == ARES_SUCCESS && res != nullptr) {
          std::vector<std::string> v6;
          for (ares_addrinfo_node* n = res->nodes; n != nullptr; n = n->ai_next) {
            char buf[INET6_ADDRSTRLEN] = {0};
            if (n->ai_family == AF_INET) {
              inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(n->ai_addr)->sin_addr, buf,
                        sizeof buf);
              a.addresses.push_back(buf);
            } else if (n->ai_family == AF_INET6) {
              inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(n->ai_addr)->sin6_addr, buf,
                        sizeof buf);
              v6.push_back(buf);
            }
          }
          a.addresses.insert(a.addresses.end(), v6.begin(), v6.end());
          if (a.addresses.empty()) {
            a.failure_class = v1::FailureClass::DNS_NODATA;
          }
        }
        if (res != nullptr) {
          ares_freeaddrinfo(res);
        }
        if (a.failure_class != v1::FailureClass::OK) {
          a.detail = absl::StrCat("resolving ", p->host, " via ",
                                  p->server.empty() ? "system resolvers" : p->server, ": ",
                                  a.rcode.empty() ? ares_strerror(status) : a.rcode,
                                  status == ARES_ENODATA ? " (no address records)" : "");
        } else {
          p->self->last_known_[p->host] = a.addresses.front();
        }
        // Deliver outside c-ares' own call stack.
        p->self->loop_->Post(
            [cb = std::move(p->cb), a = std::move(a)]() mutable { cb(std::move(a)); });
      },
      p);
  Reschedule(*ch);
}

void DnsResolver::Query(const std::string& name, int type, const std::string& server,
                        std::chrono::milliseconds timeout, RawCallback cb) {
  auto ch = GetChannel(server, timeout);
  if (!ch.ok()) {
    RawAnswer a;
    a.status = ARES_EBADSTR;
    loop_->Post([cb = std::move(cb), a = std::move(a)]() mutable { cb(std::move(a)); });
    return;
  }
  struct Pending {
    DnsResolver* self;
    common::EventLoop::MonoTime start;
    RawCallback cb;
  };
  auto* p = new Pending{this, loop_->Now(), std::move(cb)};
  ares_query((*ch)->channel, name.c_str(), ns_c_in, type,
             [](void* arg, int status, int timeouts, unsigned char* abuf, int alen) {
               std::unique_ptr<Pending> p(static_cast<Pending*>(arg));
               RawAnswer a;
               a.status = status;
               a.elapsed = Since(*p->self->loop_, p->start);
               if (abuf != nullptr && alen > 0) {
                 a.packet.assign(abuf, abuf + alen);
               }
               p->self->loop_->Post(
                   [cb = std::move(p->cb), a = std::move(a)]() mutable { cb(std::move(a)); });
             },
             p);
  Reschedule(*ch);
}

std::string DnsResolver::LastKnownAddress(const std::string& host) const {
  auto it = last_known_.find(host);
  return it == last_known_.end() ? "" : it->second;
}

std::string DnsResolver::AddressToTry(const std::string& host, const HostAnswer& answer,
                                      DnsFallback* fallback) const {
  if (answer.failure_class == v1::FailureClass::OK) {
    return answer.addresses.front();
  }
  std::string address = LastKnownAddress(host);
  if (!address.empty()) {
    *fallback = {answer.failure_class, answer.detail, address};
  }
  return address;
}

}  // namespace sonde::prober
