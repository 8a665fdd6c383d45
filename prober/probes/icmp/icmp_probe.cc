// ICMP echo probe (see icmp_probe.h).
#include "prober/probes/icmp/icmp_probe.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/checks/registry.h"
#include "common/proto_time.h"

namespace sonde::prober {
namespace {

using FC = v1::FailureClass;
using MonoTime = common::EventLoop::MonoTime;

constexpr size_t kMaxDatagram = 65536;
constexpr int kMaxReadsPerEvent = 256;

int64_t MicrosBetween(MonoTime from, MonoTime to) {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

// The first address of the wanted IP version ("4", "6"; else any).
std::string PickAddress(const std::vector<std::string>& addresses, const std::string& version) {
  for (const std::string& a : addresses) {
    bool v6 = a.find(':') != std::string::npos;
    if (version == "4" ? !v6 : version == "6" ? v6 : true) {
      return a;
    }
  }
  return "";
}

uint16_t RandomId() {
  static std::mt19937 gen(std::random_device{}());
  return static_cast<uint16_t>(gen());
}

std::string FormatMs(int64_t us) { return absl::StrFormat("%.3f", static_cast<double>(us) / 1000); }

}  // namespace

FC::Code ClassifyEchoes(int sent, int received, int unreachable) {
  if (sent > 0 && received == sent) {
    return FC::OK;
  }
  if (received > 0) {
    return FC::ICMP_LOSS;
  }
  return unreachable > 0 ? FC::ICMP_UNREACHABLE : FC::ICMP_TIMEOUT;
}

IcmpProbe::IcmpProbe(const v1::Check& check, ProbeEnv* env, icmp::SocketMode mode)
    : check_(check), env_(env), mode_(mode) {}

IcmpProbe::~IcmpProbe() {
  active_ = false;
  StopIo();
}

void IcmpProbe::StopIo() {
  if (token_ != nullptr) {
    token_->cancelled = true;
    token_.reset();
  }
  env_->loop->Cancel(send_timer_);
  env_->loop->Cancel(deadline_timer_);
  send_timer_ = deadline_timer_ = 0;
  if (socket_) {
    env_->loop->RemoveFd(socket_->fd());
    socket_.reset();
  }
}

void IcmpProbe::Run(MonoTime deadline, Done done) {
  active_ = true;
  done_ = std::move(done);
  result_ = NewResult(*env_);
  echoes_.assign(std::max<uint32_t>(check_.icmp().count(), 1), Echo{});
  next_ = 0;
  unreachable_why_.clear();
  send_error_.clear();
  target_.reset();
  fallback_ = DnsFallback{};
  start_ = env_->loop->Now();
  deadline_ = deadline;
  const v1::IcmpSpec& spec = check_.icmp();
  result_->set_target(checks::TargetOf(check_));
  token_ = std::make_shared<RunToken>();
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - start_);
  env_->resolver->ResolveHost(spec.host(), absl::StrJoin(spec.resolvers(), ","),
                              std::max(remaining, std::chrono::milliseconds(1)),
                              [this, token = token_](DnsResolver::HostAnswer a) {
                                if (!token->cancelled) {
                                  OnResolved(std::move(a));
                                }
                              });
}

void IcmpProbe::OnResolved(DnsResolver::HostAnswer answer) {
  result_->set_dns_us(static_cast<uint32_t>(answer.elapsed.count()));
  result_->set_dns_rcode(answer.rcode);
  std::vector<std::string> addresses = std::move(answer.addresses);
  if (answer.failure_class != FC::OK) {
    // The name fails: ping its last known address, if any, and say so.
    std::string last = env_->resolver->LastKnownAddress(check_.icmp().host());
    if (last.empty()) {
      return Finish(answer.failure_class, answer.detail);
    }
    fallback_ = DnsFallback{answer.failure_class, answer.detail, last};
    addresses = {last};
  }
  const std::string& version = check_.icmp().ip_version();
  std::string address = PickAddress(addresses, version);
  if (address.empty()) {
    return Finish(FC::DNS_NODATA, absl::StrCat(check_.icmp().host(), " has no IPv", version,
                                               " address (", absl::StrJoin(addresses, ", "), ")"));
  }
  result_->set_resolved_address(address);
  if (absl::Status allowed = CheckProbePolicy(*env_, address); !allowed.ok()) {
    return Finish(FC::PROBER_POLICY, std::string(allowed.message()));
  }
  auto ip = icmp::ParseIpAddress(address);
  if (!ip.ok()) {
    return Finish(FC::PROBER_ERROR, std::string(ip.status().message()));
  }
  target_ = *ip;
  auto sock = icmp::EchoSocket::Open(target_->family, mode_, env_->source_address);
  if (!sock.ok()) {
    return Finish(FC::PROBER_ERROR, std::string(sock.status().message()));
  }
  socket_.emplace(std::move(*sock));
  absl::Status st = env_->loop->AddFd(socket_->fd(), EPOLLIN,
                                      [this](uint32_t events) { OnSocketEvents(events); });
  if (!st.ok()) {
    return Finish(FC::PROBER_ERROR, std::string(st.message()));
  }
  // A ping socket's identifier is the kernel's; a raw socket's is ours.
  id_ = RandomId();
  seq_base_ = RandomId();
  deadline_timer_ = env_->loop->RunAt(deadline_, [this] {
    deadline_timer_ = 0;
    FinishWithEchoes(true);
  });
  SendNext();
}

void IcmpProbe::SendNext() {
  send_timer_ = 0;
  const v1::IcmpSpec& spec = check_.icmp();
  Echo& echo = echoes_[next_];
  uint16_t seq = static_cast<uint16_t>(seq_base_ + next_);
  std::string packet = icmp::EncodeEchoRequest(target_->family, id_, seq, spec.payload_bytes());
  echo.sent_at = env_->loop->Now();
  echo.sent = true;
  ssize_t n = sendto(socket_->fd(), packet.data(), packet.size(), 0,
                     reinterpret_cast<const sockaddr*>(&target_->storage), target_->len);
  if (n < 0) {
    int err = errno;
    if (err == EHOSTUNREACH || err == ENETUNREACH) {
      NoteUnreachable(seq, strerror(err));
    } else {
      // Lost before it left (a local firewall says EPERM, a full buffer
      // EAGAIN): no reply will come.
      send_error_ = absl::StrCat("sendto: ", strerror(err));
    }
  }
  ++next_;
  if (next_ < echoes_.size()) {
    auto gap = std::chrono::microseconds(
        absl::ToInt64Microseconds(common::ToDuration(spec.interval_between())));
    send_timer_ = env_->loop->RunAfter(gap, [this] { SendNext(); });
  } else if (AllSettled()) {
    FinishWithEchoes(false);
  }
}

void IcmpProbe::OnSocketEvents(uint32_t events) {
  if (events & EPOLLERR) {
    ReadErrors();
  }
  if (active_ && (events & EPOLLIN)) {
    ReadReplies();
  }
  if (active_ && next_ == echoes_.size() && AllSettled()) {
    FinishWithEchoes(false);
  }
}

void IcmpProbe::ReadReplies() {
  buffer_.resize(kMaxDatagram);
  // Bounded, so a socket that keeps failing cannot hold the loop.
  for (int i = 0; i < kMaxReadsPerEvent && active_; ++i) {
    ssize_t n = recv(socket_->fd(), buffer_.data(), buffer_.size(), 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ReadErrors();  // a pending socket error (ICMP error on a ping socket)
        continue;
      }
      return;
    }
    icmp::EchoMessage m =
        icmp::DecodeEchoMessage(target_->family, buffer_.data(), static_cast<size_t>(n),
                                socket_->raw() && target_->family == icmp::Family::kV4);
    // A raw socket sees every ICMP message of the host: ours carry our id.
    if (m.kind == icmp::EchoMessage::Kind::kOther || (socket_->raw() && m.id != id_)) {
      continue;
    }
    size_t index = static_cast<uint16_t>(m.seq - seq_base_);
    if (index >= next_) {
      continue;
    }
    if (m.kind == icmp::EchoMessage::Kind::kUnreachable) {
      NoteUnreachable(m.seq, icmp::UnreachableCodeName(target_->family, m.code));
      continue;
    }
    Echo& echo = echoes_[index];
    if (!echo.answered) {
      echo.answered = true;
      echo.rtt_us = std::max<int64_t>(MicrosBetween(echo.sent_at, env_->loop->Now()), 1);
    }
  }
}

void IcmpProbe::ReadErrors() {
  // Ping sockets queue ICMP errors with the request they quote.
  for (int i = 0; i < 64 && active_; ++i) {
    uint8_t quoted[64];
    char control[512];
    iovec iov{quoted, sizeof quoted};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(socket_->fd(), &msg, MSG_ERRQUEUE);
    if (n < 0) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(socket_->fd(), SOL_SOCKET, SO_ERROR, &err, &len);  // clears it
      return;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
      bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if (!v4 && !v6) {
        continue;
      }
      sock_extended_err ee;
      memcpy(&ee, CMSG_DATA(c), sizeof ee);
      bool icmp_unreachable = (ee.ee_origin == SO_EE_ORIGIN_ICMP && ee.ee_type == 3) ||
                              (ee.ee_origin == SO_EE_ORIGIN_ICMP6 && ee.ee_type == 1);
      bool local_unreachable = ee.ee_errno == EHOSTUNREACH || ee.ee_errno == ENETUNREACH;
      if (n < 8 || !(icmp_unreachable || local_unreachable)) {
        continue;
      }
      uint16_t seq = static_cast<uint16_t>(quoted[6] << 8 | quoted[7]);
      NoteUnreachable(seq, icmp_unreachable ? icmp::UnreachableCodeName(target_->family, ee.ee_code)
                                            : std::string(strerror(static_cast<int>(ee.ee_errno))));
    }
  }
}

void IcmpProbe::NoteUnreachable(uint16_t seq, std::string why) {
  size_t index = static_cast<uint16_t>(seq - seq_base_);
  if (index >= echoes_.size() || !echoes_[index].sent || echoes_[index].answered) {
    return;
  }
  echoes_[index].unreachable = true;
  unreachable_why_ = std::move(why);
}

bool IcmpProbe::AllSettled() const {
  if (!send_error_.empty()) {
    return false;  // a request that never left is only lost at the deadline
  }
  return std::all_of(echoes_.begin(), echoes_.end(),
                     [](const Echo& e) { return e.sent && (e.answered || e.unreachable); });
}

void IcmpProbe::FinishWithEchoes(bool deadline_passed) {
  int sent = 0;
  int received = 0;
  int unreachable = 0;
  int64_t min_us = 0;
  int64_t max_us = 0;
  int64_t sum_us = 0;
  for (const Echo& e : echoes_) {
    sent += e.sent ? 1 : 0;
    unreachable += e.unreachable && !e.answered ? 1 : 0;
    if (e.answered) {
      min_us = received == 0 ? e.rtt_us : std::min(min_us, e.rtt_us);
      max_us = std::max(max_us, e.rtt_us);
      sum_us += e.rtt_us;
      ++received;
    }
  }
  result_->set_icmp_sent(static_cast<uint32_t>(sent));
  result_->set_icmp_received(static_cast<uint32_t>(received));
  result_->set_icmp_loss(sent > 0 ? static_cast<double>(sent - received) / sent : 1.0);
  if (received > 0) {
    result_->set_rtt_min_us(static_cast<uint32_t>(min_us));
    result_->set_rtt_avg_us(static_cast<uint32_t>(sum_us / received));
    result_->set_rtt_max_us(static_cast<uint32_t>(max_us));
  }
  FC::Code fc = ClassifyEchoes(sent, received, unreachable);
  std::string detail =
      absl::StrCat(received, "/", sent, " echo replies from ", result_->resolved_address());
  if (received > 0) {
    absl::StrAppend(&detail, ", rtt min/avg/max ", FormatMs(min_us), "/",
                    FormatMs(sum_us / received), "/", FormatMs(max_us), " ms");
  }
  if (unreachable > 0) {
    absl::StrAppend(&detail, "; ", unreachable, " unreachable: ", unreachable_why_);
  }
  if (!send_error_.empty()) {
    absl::StrAppend(&detail, "; ", send_error_);
  }
  if (deadline_passed && received + unreachable < sent) {
    absl::StrAppend(&detail, "; ", sent - received - unreachable,
                    " without an answer before the check's timeout");
  }
  if (static_cast<size_t>(sent) < echoes_.size()) {
    absl::StrAppend(&detail, "; ", echoes_.size() - sent, " not sent before the check's timeout");
  }
  Finish(fc, std::move(detail));
}

void IcmpProbe::Abort() {
  if (!active_) {
    return;
  }
  if (!socket_) {
    return Finish(FC::DNS_TIMEOUT, absl::StrCat("resolving ", check_.icmp().host(),
                                                ": no answer before the check's timeout"));
  }
  FinishWithEchoes(true);
}

void IcmpProbe::Finish(FC::Code fc, std::string detail) {
  if (!active_) {
    return;
  }
  active_ = false;
  StopIo();
  result_->set_total_us(static_cast<uint32_t>(MicrosBetween(start_, env_->loop->Now())));
  SetOutcome(fallback_, fc, detail, /*http_status=*/0, result_.get());
  DeliverResult(*env_, &done_, &result_);
}

}  // namespace sonde::prober
