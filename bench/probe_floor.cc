// sonde-bench-floor: the cost floor of a probe. A bare single-threaded loop
// that does nothing but probe a loopback target at a fixed rate, with the
// same libraries the prober uses and none of its work around a probe (no
// scheduler, no result records, no upload):
//
//   --kind http  curl multi on epoll (curl_multi_socket_action, curl's timer
//                as epoll_wait's timeout), one new connection per probe
//                (CURLOPT_FORBID_REUSE) on reused easy handles, GET with
//                the prober's default request (its User-Agent header: the
//                bytes on the wire are the probe's), status 200 expected,
//                body discarded
//   --kind tcp   non-blocking connect() on epoll, close on success
//   --kind dns   c-ares ares_query (UDP) of --name, type A, NOERROR expected
//
//   sonde-bench-floor --kind http --target 127.0.0.1:8080 --rate 1000 --warmup 3 --window 10
//
// Prints one JSON line (see bench_util.h: Window::Report). Bounded: at most
// rate × (warmup + window) probes, then at most 2 s for the stragglers.
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bench/bench_util.h"
#include "prober/probes/http/user_agent.h"

namespace sonde::bench {
namespace {

constexpr size_t kMaxInFlight = 4096;
constexpr auto kDrain = std::chrono::seconds(2);

struct Config {
  std::string kind;
  std::string target;
  std::string name;
  double rate;
  double warmup;
  double window;
  std::chrono::microseconds tick;
};

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// curl multi on epoll (curl's ephiperfifo pattern, like the prober's
// CurlMulti), with curl's timer as epoll_wait's timeout.
struct HttpLoop {
  CURLM* multi = nullptr;
  int epoll_fd = -1;
  bool timer_armed = false;
  SteadyClock::time_point timer_due;
};

int OnCurlSocket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
  auto* loop = static_cast<HttpLoop*>(userp);
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    return 0;
  }
  epoll_event ev{};
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  ev.data.fd = fd;
  if (socketp == nullptr) {
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    curl_multi_assign(loop->multi, fd, loop);  // marks the fd as registered
  } else {
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev);
  }
  return 0;
}

int OnCurlTimer(CURLM*, long timeout_ms, void* userp) {
  auto* loop = static_cast<HttpLoop*>(userp);
  loop->timer_armed = timeout_ms >= 0;
  loop->timer_due = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  return 0;
}

int RunHttp(const Config& c) {
  std::string host;
  int port;
  SplitLoopbackHostPort(c.target, &host, &port);
  std::string url = "http://" + c.target + "/";
  curl_global_init(CURL_GLOBAL_DEFAULT);
  HttpLoop loop;
  loop.multi = curl_multi_init();
  loop.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  curl_multi_setopt(loop.multi, CURLMOPT_SOCKETFUNCTION, &OnCurlSocket);
  curl_multi_setopt(loop.multi, CURLMOPT_SOCKETDATA, &loop);
  curl_multi_setopt(loop.multi, CURLMOPT_TIMERFUNCTION, &OnCurlTimer);
  curl_multi_setopt(loop.multi, CURLMOPT_TIMERDATA, &loop);
  // The request an HTTP check sends by default, header for header: curl
  // formats every header byte on every request (~150 instructions a byte
  // in Debian 12's libcurl), which is the probe's cost, not Sonde's.
  curl_slist* headers = curl_slist_append(nullptr, prober::kDefaultUserAgentHeader);
  Pacer pacer(c.rate, static_cast<uint64_t>(c.rate * (c.warmup + c.window)), c.tick);
  Window window(c.warmup, c.window, {});
  std::vector<CURL*> idle;  // finished handles keep their options: reused as they are
  size_t in_flight = 0;
  epoll_event events[256];
  int running = 0;
  while (true) {
    auto now = SteadyClock::now();
    window.Tick(now);
    if (window.ended() && (in_flight == 0 || now > window.end() + kDrain)) {
      break;
    }
    while (!window.ended() && pacer.Due(now) && in_flight < kMaxInFlight) {
      CURL* e;
      if (!idle.empty()) {
        e = idle.back();
        idle.pop_back();
      } else {
        e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url.c_str());
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Discard);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
      }
      curl_multi_add_handle(loop.multi, e);
      pacer.Issued();
      ++in_flight;
    }
    int wait = pacer.MillisToNext(SteadyClock::now(), 100);
    if (loop.timer_armed) {
      auto us =
          std::chrono::duration_cast<std::chrono::microseconds>(loop.timer_due - SteadyClock::now())
              .count();
      wait = std::min<int>(wait, us <= 0 ? 0 : static_cast<int>((us + 999) / 1000));
    }
    int n = epoll_wait(loop.epoll_fd, events, 256, wait);
    for (int i = 0; i < n; ++i) {
      int mask = ((events[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                 ((events[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                 ((events[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(loop.multi, events[i].data.fd, mask, &running);
    }
    if (loop.timer_armed && SteadyClock::now() >= loop.timer_due) {
      loop.timer_armed = false;
      curl_multi_socket_action(loop.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(loop.multi, &left)) {
      if (m->msg != CURLMSG_DONE) {
        continue;
      }
      CURL* e = m->easy_handle;
      long status = 0;
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      window.Completed(m->data.result == CURLE_OK && status == 200);
      curl_multi_remove_handle(loop.multi, e);
      idle.push_back(e);
      --in_flight;
    }
  }
  window.Report("floor", "http", c.rate, pacer.issued(), in_flight);
  return 0;  // handles die with the process
}

int RunTcp(const Config& c) {
  std::string host;
  int port;
  SplitLoopbackHostPort(c.target, &host, &port);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    Args::Die("IPv4 target expected");
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  Pacer pacer(c.rate, static_cast<uint64_t>(c.rate * (c.warmup + c.window)), c.tick);
  Window window(c.warmup, c.window, {});
  size_t in_flight = 0;
  epoll_event events[256];
  while (true) {
    auto now = SteadyClock::now();
    window.Tick(now);
    if (window.ended() && (in_flight == 0 || now > window.end() + kDrain)) {
      break;
    }
    while (!window.ended() && pacer.Due(now) && in_flight < kMaxInFlight) {
      pacer.Issued();
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      int rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      if (rc == 0 || errno != EINPROGRESS) {
        window.Completed(rc == 0);
        close(fd);
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.fd = fd;
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      ++in_flight;
    }
    int n = epoll_wait(ep, events, 256, pacer.MillisToNext(SteadyClock::now(), 100));
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      window.Completed(err == 0);
      close(fd);  // also removes it from the epoll set
      --in_flight;
    }
  }
  window.Report("floor", "tcp", c.rate, pacer.issued(), in_flight);
  return 0;
}

struct DnsLoop {
  Window* window;
  size_t in_flight = 0;
  std::vector<pollfd> fds;
};

int RunDns(const Config& c) {
  std::string host;
  int port;
  SplitLoopbackHostPort(c.target, &host, &port);
  ares_library_init(ARES_LIB_INIT_ALL);
  Window window(c.warmup, c.window, {});
  DnsLoop loop;
  loop.window = &window;
  ares_options opts{};
  opts.sock_state_cb = [](void* data, ares_socket_t fd, int readable, int writable) {
    auto* l = static_cast<DnsLoop*>(data);
    for (auto it = l->fds.begin(); it != l->fds.end(); ++it) {
      if (it->fd == fd) {
        l->fds.erase(it);
        break;
      }
    }
    short events = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
    if (events != 0) {
      l->fds.push_back(pollfd{fd, events, 0});
    }
  };
  opts.sock_state_cb_data = &loop;
  opts.timeout = 2000;
  opts.tries = 1;
  ares_channel channel;
  if (ares_init_options(&channel, &opts,
                        ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) !=
      ARES_SUCCESS) {
    Args::Die("ares_init_options failed");
  }
  if (ares_set_servers_ports_csv(channel, c.target.c_str()) != ARES_SUCCESS) {
    Args::Die("bad --target for DNS: " + c.target);
  }
  Pacer pacer(c.rate, static_cast<uint64_t>(c.rate * (c.warmup + c.window)), c.tick);
  while (true) {
    auto now = SteadyClock::now();
    window.Tick(now);
    if (window.ended() && (loop.in_flight == 0 || now > window.end() + kDrain)) {
      break;
    }
    while (!window.ended() && pacer.Due(now) && loop.in_flight < kMaxInFlight) {
      pacer.Issued();
      ++loop.in_flight;
      ares_query(
          channel, c.name.c_str(), ns_c_in, ns_t_a,
          [](void* arg, int status, int, unsigned char*, int) {
            auto* l = static_cast<DnsLoop*>(arg);
            l->window->Completed(status == ARES_SUCCESS);
            --l->in_flight;
          },
          &loop);
    }
    std::vector<pollfd> fds = loop.fds;
    int n = poll(fds.data(), fds.size(), pacer.MillisToNext(SteadyClock::now(), 100));
    for (int i = 0; n > 0 && i < static_cast<int>(fds.size()); ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      ares_socket_t r =
          (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD;
      ares_socket_t w = (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD;
      ares_process_fd(channel, r, w);
    }
    ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
  }
  window.Report("floor", "dns", c.rate, pacer.issued(), loop.in_flight);
  return 0;
}

}  // namespace
}  // namespace sonde::bench

int main(int argc, char** argv) {
  using namespace sonde::bench;
  Args args(argc, argv);
  Config c;
  c.kind = args.Str("kind", "http");
  c.target = args.Str("target", "");
  c.name = args.Str("name", "bench.test");
  c.rate = args.Num("rate", 1000);
  c.warmup = args.Num("warmup", 3);
  c.window = args.Num("window", 10);
  c.tick = std::chrono::microseconds(static_cast<int64_t>(1000 * args.Num("tick-ms", 1)));
  if (c.target.empty()) {
    Args::Die("--target IP:PORT is required");
  }
  if (c.rate <= 0 || c.rate > 100000) {
    Args::Die("--rate must be in (0, 100000]");
  }
  if (c.warmup < 0 || c.window <= 0 || c.warmup + c.window > 600) {
    Args::Die("--warmup + --window must be within 600 s");
  }
  if (c.kind == "http") {
    return RunHttp(c);
  }
  if (c.kind == "tcp") {
    return RunTcp(c);
  }
  if (c.kind == "dns") {
    return RunDns(c);
  }
  Args::Die("--kind must be http, tcp or dns");
}
