// Small helpers shared by the benchmark tools in bench/ (not a library the
// product uses): flag parsing, CPU time of a process from /proc, a fixed-rate
// pacer, and the measurement window every tool reports on.
//
// A tool runs `warmup` seconds, then measures a `window` of seconds: it counts
// the probes that completed inside the window and reads utime+stime of the
// measured processes at the window's start and end. Everything is bounded:
// the pacer never issues more than rate × (warmup + window) probes and the
// tools stop waiting for stragglers after a short drain.
#ifndef SONDE_BENCH_BENCH_UTIL_H_
#define SONDE_BENCH_BENCH_UTIL_H_

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <vector>

namespace sonde::bench {

using SteadyClock = std::chrono::steady_clock;

// --name=value or --name value; every flag needs a value.
class Args {
 public:
  Args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) {
        Die("unexpected argument " + a);
      }
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        values_[a.substr(2, eq - 2)] = a.substr(eq + 1);
      } else if (i + 1 < argc) {
        values_[a.substr(2)] = argv[++i];
      } else {
        Die("flag " + a + " needs a value");
      }
    }
  }
  std::string Str(const std::string& name, const std::string& def) const {
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  double Num(const std::string& name, double def) const {
    auto it = values_.find(name);
    return it == values_.end() ? def : std::strtod(it->second.c_str(), nullptr);
  }
  [[noreturn]] static void Die(const std::string& msg) {
    std::fprintf(stderr, "error: %s\n", msg.c_str());
    std::exit(2);
  }

 private:
  std::map<std::string, std::string> values_;
};

// CPU time of every thread of `pid`, ended threads included, in seconds:
// the kernel's CPU-time clock of the process, to the nanosecond
// (/proc/PID/stat's utime + stime are the same sum in 10 ms ticks, which is
// 1 us per probe over a 10 s window at 1,000 probes/s). -1 when the process
// is gone.
inline double ProcCpuSeconds(pid_t pid) {
  clockid_t clock;
  timespec t{};
  if (clock_getcpuclockid(pid, &clock) != 0 || clock_gettime(clock, &t) != 0) {
    return -1;
  }
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Probe i is due at start + i / rate, rounded up to a multiple of `tick`
// (probes due within one tick start together); never more than `max_probes`.
class Pacer {
 public:
  Pacer(double rate, uint64_t max_probes,
        std::chrono::microseconds tick = std::chrono::milliseconds(1))
      : start_(SteadyClock::now()), rate_(rate), max_(max_probes), tick_us_(tick.count()) {}
  // True when the next probe is due now (and the budget is not spent).
  bool Due(SteadyClock::time_point now) const { return issued_ < max_ && DueAt() <= now; }
  void Issued() { ++issued_; }
  uint64_t issued() const { return issued_; }
  bool exhausted() const { return issued_ >= max_; }
  // Milliseconds until the next probe is due, rounded up so that a caller
  // waiting this long never spins (0 only when overdue), capped.
  int MillisToNext(SteadyClock::time_point now, int cap_ms) const {
    if (exhausted()) {
      return cap_ms;
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(DueAt() - now).count();
    if (us <= 0) {
      return 0;
    }
    int64_t ms = (us + 999) / 1000;
    return ms > cap_ms ? cap_ms : static_cast<int>(ms);
  }

 private:
  SteadyClock::time_point DueAt() const {
    int64_t us = static_cast<int64_t>(1e6 * issued_ / rate_);
    us = (us + tick_us_ - 1) / tick_us_ * tick_us_;
    return start_ + std::chrono::microseconds(us);
  }
  SteadyClock::time_point start_;
  double rate_;
  uint64_t max_;
  int64_t tick_us_;
  uint64_t issued_ = 0;
};

// The measurement window: counts completions inside it and the CPU the
// measured processes (always including this one) spent inside it.
class Window {
 public:
  Window(double warmup_s, double window_s, std::vector<pid_t> pids)
      : begin_(SteadyClock::now() + ToDuration(warmup_s)),
        end_(begin_ + ToDuration(window_s)),
        window_s_(window_s),
        pids_(std::move(pids)) {
    pids_.insert(pids_.begin(), getpid());
  }

  // Call often (every loop iteration): takes the snapshots on time.
  void Tick(SteadyClock::time_point now) {
    if (!started_ && now >= begin_) {
      started_ = true;
      for (pid_t p : pids_) {
        cpu_begin_[p] = ProcCpuSeconds(p);
      }
    }
    if (started_ && !ended_ && now >= end_) {
      ended_ = true;
      for (pid_t p : pids_) {
        cpu_end_[p] = ProcCpuSeconds(p);
      }
    }
  }
  void Completed(bool ok) {
    if (!started_ || ended_) {
      return;
    }
    (ok ? ok_ : failed_)++;
  }
  bool ended() const { return ended_; }
  SteadyClock::time_point end() const { return end_; }

  // One JSON object on stdout: what run.py reads.
  void Report(const std::string& tool, const std::string& kind, double rate, uint64_t issued,
              uint64_t unfinished) const {
    double self_cpu = cpu_end_.at(pids_[0]) - cpu_begin_.at(pids_[0]);
    std::printf(
        "{\"tool\": \"%s\", \"kind\": \"%s\", \"rate\": %.1f, \"window_s\": %.3f, "
        "\"issued\": %llu, \"unfinished\": %llu, \"ok\": %llu, \"failed\": %llu, "
        "\"probes_per_s\": %.1f, \"cpu_s\": %.6f, \"pids_cpu_s\": {",
        tool.c_str(), kind.c_str(), rate, window_s_, static_cast<unsigned long long>(issued),
        static_cast<unsigned long long>(unfinished), static_cast<unsigned long long>(ok_),
        static_cast<unsigned long long>(failed_), (ok_ + failed_) / window_s_, self_cpu);
    for (size_t i = 1; i < pids_.size(); ++i) {
      std::printf("%s\"%d\": %.6f", i > 1 ? ", " : "", static_cast<int>(pids_[i]),
                  cpu_end_.at(pids_[i]) - cpu_begin_.at(pids_[i]));
    }
    std::printf("}}\n");
    std::fflush(stdout);
  }

 private:
  static SteadyClock::duration ToDuration(double s) {
    return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
  }
  SteadyClock::time_point begin_, end_;
  double window_s_;
  std::vector<pid_t> pids_;
  bool started_ = false, ended_ = false;
  std::map<pid_t, double> cpu_begin_, cpu_end_;
  uint64_t ok_ = 0, failed_ = 0;
};

// "127.0.0.1:8080" -> host, port. Loopback only: the benchmark never leaves
// the machine.
inline void SplitLoopbackHostPort(const std::string& hp, std::string* host, int* port) {
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos) {
    Args::Die("target must be IP:PORT, got " + hp);
  }
  *host = hp.substr(0, colon);
  if (!host->empty() && host->front() == '[') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = std::atoi(hp.c_str() + colon + 1);
  if (host->rfind("127.", 0) != 0 && *host != "::1") {
    Args::Die("loopback targets only (127.0.0.0/8 or ::1), got " + hp);
  }
}

}  // namespace sonde::bench

#endif  // SONDE_BENCH_BENCH_UTIL_H_
