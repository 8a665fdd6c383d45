// sonde-bench-blackbox-load: drives prometheus-blackbox-exporter at a fixed
// probe rate, the way Prometheus would, but faster: GET
// /probe?module=M&target=T on kept-alive connections (so the exporter's own
// probe is the only new connection per request), and counts a probe as ok
// when the answer holds `probe_success 1`.
//
//   sonde-bench-blackbox-load --kind http --rate 1000 --warmup 3 --window 10
//       --measure-pid 1234 --url 'http://127.0.0.1:9115/probe?module=http_2xx&target=...'
//
// Reports the exporter's CPU (utime+stime from /proc/PID/stat) over the
// window next to its own, as one JSON line (bench_util.h: Window::Report).
// Bounded: at most rate × (warmup + window) requests, at most --connections
// at once, then at most 2 s for the stragglers. Loopback only.
#include <curl/curl.h>

#include <deque>

#include "bench/bench_util.h"

namespace sonde::bench {
namespace {

constexpr auto kDrain = std::chrono::seconds(2);

struct Transfer {
  CURL* easy = nullptr;
  std::string body;
};

size_t OnBody(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  if (t->body.size() < (1 << 20)) {
    t->body.append(data, size * n);
  }
  return size * n;
}

bool ProbeSucceeded(const std::string& body) {
  return body.find("\nprobe_success 1\n") != std::string::npos;
}

int Run(const Args& args) {
  std::string url = args.Str("url", "");
  std::string kind = args.Str("kind", "http");
  double rate = args.Num("rate", 1000);
  double warmup = args.Num("warmup", 3);
  double window_s = args.Num("window", 10);
  long connections = static_cast<long>(args.Num("connections", 64));
  pid_t pid = static_cast<pid_t>(args.Num("measure-pid", 0));
  if (url.rfind("http://127.", 0) != 0) {
    Args::Die("--url must be http://127.x.y.z:PORT/...");
  }
  if (rate <= 0 || rate > 100000) {
    Args::Die("--rate must be in (0, 100000]");
  }
  if (warmup < 0 || window_s <= 0 || warmup + window_s > 600) {
    Args::Die("--warmup + --window must be within 600 s");
  }
  if (pid <= 0) {
    Args::Die("--measure-pid PID (the exporter) is required");
  }

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, connections);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, connections);
  auto tick = std::chrono::microseconds(static_cast<int64_t>(1000 * args.Num("tick-ms", 1)));
  Pacer pacer(rate, static_cast<uint64_t>(rate * (warmup + window_s)), tick);
  Window window(warmup, window_s, {pid});
  std::deque<Transfer> pool;  // stable addresses; handles are reused
  std::vector<Transfer*> idle;
  size_t in_flight = 0;
  while (true) {
    auto now = SteadyClock::now();
    window.Tick(now);
    if (window.ended() && (in_flight == 0 || now > window.end() + kDrain)) {
      break;
    }
    while (!window.ended() && pacer.Due(now) && in_flight < 4096) {
      if (idle.empty()) {
        pool.emplace_back();
        Transfer* t = &pool.back();
        t->easy = curl_easy_init();
        curl_easy_setopt(t->easy, CURLOPT_URL, url.c_str());
        curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, &OnBody);
        curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
        idle.push_back(t);
      }
      Transfer* t = idle.back();
      idle.pop_back();
      t->body.clear();
      curl_multi_add_handle(multi, t->easy);
      pacer.Issued();
      ++in_flight;
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) {
        continue;
      }
      Transfer* t = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &t);
      long status = 0;
      curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      window.Completed(m->data.result == CURLE_OK && status == 200 && ProbeSucceeded(t->body));
      curl_multi_remove_handle(multi, m->easy_handle);
      idle.push_back(t);
      --in_flight;
    }
    curl_multi_poll(multi, nullptr, 0, pacer.MillisToNext(SteadyClock::now(), 100), nullptr);
  }
  window.Report("blackbox-load", kind, rate, pacer.issued(), in_flight);
  return 0;
}

}  // namespace
}  // namespace sonde::bench

int main(int argc, char** argv) {
  sonde::bench::Args args(argc, argv);
  return sonde::bench::Run(args);
}
