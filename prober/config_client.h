// ConfigClient: follows ConfigService.Watch on the collector and hands every
// ProberConfig it receives to a callback, reconnecting with backoff when the
// stream breaks. Runs on its own thread; the callback runs on that thread
// (post to the event loop from it).
#ifndef SONDE_PROBER_CONFIG_CLIENT_H_
#define SONDE_PROBER_CONFIG_CLIENT_H_

#include <functional>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "sonde/v1/collector.grpc.pb.h"

namespace sonde::prober {

class ConfigClient {
 public:
  using OnConfig = std::function<void(v1::ProberConfig)>;
  // `bearer_token` ("" for none) is sent as "authorization: Bearer ...".
  ConfigClient(std::shared_ptr<grpc::Channel> channel, v1::ProberHello hello,
               std::string bearer_token, OnConfig on_config);
  ~ConfigClient();
  void Start();
  void Stop();

 private:
  void Run();
  std::unique_ptr<v1::ConfigService::Stub> stub_;
  v1::ProberHello hello_;
  std::string bearer_token_;
  OnConfig on_config_;
  std::thread thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace sonde::prober

#endif  // SONDE_PROBER_CONFIG_CLIENT_H_
