// A GoogleTest fixture that runs one in-process FaultServer per test on
// 127.0.0.1 (port 0 everywhere) and stops it in TearDown. Test thread only.
#ifndef SONDE_TESTS_UNIT_FAULTD_SERVER_FIXTURE_H_
#define SONDE_TESTS_UNIT_FAULTD_SERVER_FIXTURE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/faultd/fault_server.h"

namespace sonde::faultd::testing {

class FaultServerTest : public ::testing::Test {
 protected:
  // Starts the server with every listener but blackhole on 127.0.0.1:0.
  void StartServer(const std::string& rules_json = "",
                   const std::function<void(FaultServerOptions&)>& tweak = nullptr) {
    FaultServerOptions o;
    o.http_listen = o.https_listen = o.tls_listen = o.tcp_listen = o.dns_listen = o.control_listen =
        "127.0.0.1:0";
    o.cert_names = {"app.example.test"};
    o.rules_json = rules_json;
    if (tweak) {
      tweak(o);
    }
    server_ = std::make_unique<FaultServer>(std::move(o));
    absl::Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }

  void SetRules(const std::string& json) {
    absl::Status s = server_->SetRulesJson(json);
    ASSERT_TRUE(s.ok()) << s;
  }

  void TearDown() override {
    if (server_) {
      server_->Stop();
    }
  }

  const SocketAddress& addr(ListenerKind kind) const { return server_->address(kind); }

  // Polls `pred` until it holds or `timeout` passes (for counters the server
  // updates after the client already saw the effect, such as handshake_ok).
  static bool Eventually(const std::function<bool()>& pred,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
  }

  std::unique_ptr<FaultServer> server_;
};

}  // namespace sonde::faultd::testing

#endif  // SONDE_TESTS_UNIT_FAULTD_SERVER_FIXTURE_H_
