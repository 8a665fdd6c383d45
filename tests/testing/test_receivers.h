// Loopback receivers for the notification tests: an HTTP server (webhook,
// Alertmanager) and a minimal SMTP server, both on 127.0.0.1 port 0, each
// with a thread of its own, recording what they received, and the webhook
// signature check a receiver runs (computed here independently of the
// sender's code). Thread-safe accessors; destructors stop and join.
#ifndef SONDE_TESTS_TESTING_TEST_RECEIVERS_H_
#define SONDE_TESTS_TESTING_TEST_RECEIVERS_H_

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sonde::notify::testing {

// What a webhook receiver does with `X-Sonde-Signature: t=<unix>,v1=<hex>`:
// true when v1 is HMAC-SHA256(secret, "<t>.<body>"); `*t` gets the
// timestamp (so the caller can refuse old ones). Uses OpenSSL's EVP_Q_mac,
// not the sender's code.
inline bool SignatureValid(const std::string& secret, const std::string& header,
                           const std::string& body, int64_t* t = nullptr) {
  std::string ts, v1;
  for (absl::string_view part : absl::StrSplit(header, ',')) {
    if (absl::StartsWith(part, "t=")) {
      ts = std::string(part.substr(2));
    } else if (absl::StartsWith(part, "v1=")) {
      v1 = std::string(part.substr(3));
    }
  }
  int64_t seconds = 0;
  if (ts.empty() || v1.empty() || !absl::SimpleAtoi(ts, &seconds)) {
    return false;
  }
  const std::string signed_bytes = absl::StrCat(ts, ".", body);
  unsigned char mac[64];
  size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                reinterpret_cast<const unsigned char*>(signed_bytes.data()), signed_bytes.size(),
                mac, sizeof(mac), &len) == nullptr) {
    return false;
  }
  std::string hex;
  for (size_t i = 0; i < len; ++i) {
    absl::StrAppend(&hex, absl::Hex(mac[i], absl::kZeroPad2));
  }
  if (t != nullptr) {
    *t = seconds;
  }
  return hex == v1;
}

struct HttpRequest {
  std::string path;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

class HttpReceiver {
 public:
  HttpReceiver() {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      HttpRequest r;
      r.path = req.path;
      for (const auto& [k, v] : req.headers) {
        r.headers[absl::AsciiStrToLower(k)] = v;
      }
      r.body = req.body;
      int status;
      absl::Duration delay;
      {
        absl::MutexLock l(&mu_);
        requests_.push_back(std::move(r));
        status = status_;
        delay = delay_;
      }
      if (delay > absl::ZeroDuration()) {
        absl::SleepFor(delay);
      }
      res.status = status;
      res.set_content(status >= 300 ? "receiver says no\nsecond line" : "ok", "text/plain");
    };
    server_.Post(".*", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the accept loop runs would be lost (httplib 0.11).
    while (!server_.is_running()) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  ~HttpReceiver() {
    server_.stop();
    thread_.join();
  }

  std::string url(const std::string& path = "/hook") const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }
  int port() const { return port_; }
  void set_status(int status) {
    absl::MutexLock l(&mu_);
    status_ = status;
  }
  void set_delay(absl::Duration d) {
    absl::MutexLock l(&mu_);
    delay_ = d;
  }
  std::vector<HttpRequest> requests() const {
    absl::MutexLock l(&mu_);
    return requests_;
  }
  // Requests whose X-Sonde-Event header is `event`.
  int count(const std::string& event) const {
    absl::MutexLock l(&mu_);
    int n = 0;
    for (const auto& r : requests_) {
      auto it = r.headers.find("x-sonde-event");
      n += it != r.headers.end() && it->second == event;
    }
    return n;
  }

 private:
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
  int status_ ABSL_GUARDED_BY(mu_) = 200;
  absl::Duration delay_ ABSL_GUARDED_BY(mu_);
};

// Speaks just enough ESMTP for libcurl: greeting, EHLO, MAIL, RCPT, DATA,
// QUIT; it offers no STARTTLS (a server a man in the middle stripped). One
// connection at a time; every command line it read is kept.
class SmtpReceiver {
 public:
  struct Mail {
    std::string mail_from;
    std::vector<std::string> rcpt_to;
    std::string data;  // without the terminating "."
  };

  SmtpReceiver() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 4);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~SmtpReceiver() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    thread_.join();
  }
  std::string url() const { return absl::StrCat("smtp://127.0.0.1:", port_); }
  std::vector<Mail> mails() const {
    absl::MutexLock l(&mu_);
    return mails_;
  }
  // Command lines received (outside DATA), in order, e.g. "EHLO host".
  std::vector<std::string> commands() const {
    absl::MutexLock l(&mu_);
    return commands_;
  }

 private:
  static bool ReadLine(int fd, std::string* buffer, std::string* line) {
    while (true) {
      size_t pos = buffer->find("\r\n");
      if (pos != std::string::npos) {
        *line = buffer->substr(0, pos);
        buffer->erase(0, pos + 2);
        return true;
      }
      char chunk[4096];
      ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        return false;
      }
      buffer->append(chunk, static_cast<size_t>(n));
    }
  }
  static void Send(int fd, const std::string& s) {
    (void)send(fd, s.data(), s.size(), MSG_NOSIGNAL);
  }

  void Serve() {
    while (!stopping_) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        return;
      }
      Session(fd);
      close(fd);
    }
  }

  void Session(int fd) {
    std::string buffer, line;
    Mail mail;
    Send(fd, "220 test-smtp ESMTP\r\n");
    while (ReadLine(fd, &buffer, &line)) {
      {
        absl::MutexLock l(&mu_);
        commands_.push_back(line);
      }
      const std::string upper = absl::AsciiStrToUpper(line);
      if (absl::StartsWith(upper, "EHLO") || absl::StartsWith(upper, "HELO")) {
        Send(fd, "250-test-smtp\r\n250 8BITMIME\r\n");
      } else if (absl::StartsWith(upper, "MAIL FROM:")) {
        mail.mail_from = line.substr(10);
        Send(fd, "250 OK\r\n");
      } else if (absl::StartsWith(upper, "RCPT TO:")) {
        mail.rcpt_to.push_back(line.substr(8));
        Send(fd, "250 OK\r\n");
      } else if (upper == "DATA") {
        Send(fd, "354 go ahead\r\n");
        std::string data;
        while (ReadLine(fd, &buffer, &line) && line != ".") {
          absl::StrAppend(&data, line, "\r\n");
        }
        mail.data = data;
        {
          absl::MutexLock l(&mu_);
          mails_.push_back(mail);
        }
        mail = Mail();
        Send(fd, "250 queued\r\n");
      } else if (upper == "QUIT") {
        Send(fd, "221 bye\r\n");
        return;
      } else {
        Send(fd, "250 OK\r\n");
      }
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<Mail> mails_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> commands_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sonde::notify::testing

#endif  // SONDE_TESTS_TESTING_TEST_RECEIVERS_H_
