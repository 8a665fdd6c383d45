// ConfigClient against an in-process ConfigService on a loopback port that
// goes away and comes back on the same port.
#include "prober/uplink/config_client.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"

namespace sonde::prober {
namespace {

// Sends one config on every Watch, then holds the stream until the call is
// cancelled (server shutdown).
class FixedConfigService final : public v1::ConfigService::Service {
 public:
  explicit FixedConfigService(std::string version) : version_(std::move(version)) {}
  grpc::Status Watch(grpc::ServerContext* context, const v1::ProberHello*,
                     grpc::ServerWriter<v1::ProberConfig>* writer) override {
    v1::ProberConfig config;
    config.set_version(version_);
    writer->Write(config);
    while (!context->IsCancelled()) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return grpc::Status::CANCELLED;
  }

 private:
  const std::string version_;
};

// A ConfigService serving `version` on 127.0.0.1:`port` (0: any free port).
struct Collector {
  Collector(const std::string& version, int port) : service(version) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                             &bound);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
  }
  ~Collector() { Stop(); }
  void Stop() {
    if (server != nullptr) {
      server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      server->Wait();
      server.reset();
    }
  }
  FixedConfigService service;
  int bound = 0;
  std::unique_ptr<grpc::Server> server;
};

class Received {
 public:
  void Add(const v1::ProberConfig& c) {
    absl::MutexLock l(&mu_);
    versions_.push_back(c.version());
  }
  // Waits up to `timeout` for `version`; true once it arrived.
  bool WaitFor(const std::string& version, absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    Wanted wanted{this, &version};
    return mu_.AwaitWithTimeout(absl::Condition(&Wanted::Arrived, &wanted), timeout);
  }

 private:
  struct Wanted {
    Received* self;
    const std::string* version;
    static bool Arrived(Wanted* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      for (const std::string& v : w->self->versions_) {
        if (v == *w->version) {
          return true;
        }
      }
      return false;
    }
  };
  absl::Mutex mu_;
  std::vector<std::string> versions_ ABSL_GUARDED_BY(mu_);
};

// A channel to 127.0.0.1:`port` as the prober's: gRPC retries connecting
// at least every second (the prober allows 10 s).
std::shared_ptr<grpc::Channel> Channel(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

v1::ProberHello Hello() {
  v1::ProberHello hello;
  hello.set_prober_id("p-test");
  hello.set_region("fra");
  return hello;
}

TEST(ConfigClientTest, AsksAgainAsSoonAsTheCollectorIsBackNotOneBackoffLater) {
  auto first = std::make_unique<Collector>("v1", 0);
  ASSERT_NE(first->server, nullptr);
  const int port = first->bound;
  Received received;
  ConfigClient client(Channel(port), Hello(), "", [&](v1::ProberConfig c) { received.Add(c); });
  // A backoff far longer than the test may take: only an early retry passes.
  client.set_backoff(absl::Seconds(60), absl::Seconds(60));
  client.Start();
  ASSERT_TRUE(received.WaitFor("v1", absl::Seconds(10)));

  first->Stop();  // the Watch stream ends; the client backs off for 60 s
  absl::SleepFor(absl::Seconds(1));
  Collector second("v2", port);
  ASSERT_NE(second.server, nullptr) << "port " << port << " was taken meanwhile";
  const absl::Time back = absl::Now();
  EXPECT_TRUE(received.WaitFor("v2", absl::Seconds(10)))
      << "the config client did not ask the restarted collector";
  RecordProperty("config_after_restart_ms",
                 absl::StrCat(absl::ToInt64Milliseconds(absl::Now() - back)));
  client.Stop();
}

// Issue 14: given two collector replicas, the config comes from the second
// at once when the first goes away, not one backoff later.
TEST(ConfigClientTest, AsksTheNextReplicaAtOnceWhenTheFirstGoesAway) {
  auto first = std::make_unique<Collector>("v1", 0);
  Collector second("v2", 0);
  ASSERT_NE(first->server, nullptr);
  ASSERT_NE(second.server, nullptr);
  std::vector<CollectorTargets::Target> list;
  for (int port : {first->bound, second.bound}) {
    list.push_back({absl::StrCat("127.0.0.1:", port), Channel(port)});
  }
  auto targets = std::make_shared<CollectorTargets>(std::move(list));
  Received received;
  ConfigClient client(targets, Hello(), "", [&](v1::ProberConfig c) { received.Add(c); });
  client.set_backoff(absl::Seconds(60), absl::Seconds(60));
  client.Start();
  ASSERT_TRUE(received.WaitFor("v1", absl::Seconds(10))) << "not from the first replica";

  first->Stop();
  const absl::Time gone = absl::Now();
  EXPECT_TRUE(received.WaitFor("v2", absl::Seconds(10))) << "the second replica was not asked";
  EXPECT_EQ(targets->current(), 1u);
  RecordProperty("config_from_second_ms",
                 absl::StrCat(absl::ToInt64Milliseconds(absl::Now() - gone)));
  client.Stop();
}

}  // namespace
}  // namespace sonde::prober
