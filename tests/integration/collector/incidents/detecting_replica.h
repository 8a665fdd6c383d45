// DetectingReplica: one collector replica's detection in cluster mode, for
// the tests of this folder: its member row, its shard loop and its
// DetectionRunner (sharded), started alone in the cluster so that one pass
// of the shard loop gives it every shard. The destructor stops the shard
// loop before the runner (the loop calls into the runner for every shard it
// drops). One test thread; header only.
#ifndef SONDE_TESTS_INTEGRATION_COLLECTOR_INCIDENTS_DETECTING_REPLICA_H_
#define SONDE_TESTS_INTEGRATION_COLLECTOR_INCIDENTS_DETECTING_REPLICA_H_

#include <string>

#include "absl/status/status.h"
#include "collector/cluster/members.h"
#include "collector/cluster/shard_ownership.h"
#include "collector/incidents/detection.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "sonde/v1/check.pb.h"

namespace sonde::collector {

struct DetectingReplica {
  DetectingReplica(const std::string& conninfo, const std::string& id, const common::Clock* clock)
      : beat(conninfo), shards(conninfo, &beat), runner(conninfo, clock) {
    beat.SetIdentity({id, id + ":7600", "test", /*cluster_mode=*/true});
    beat.SetConfigVersion("v1", /*reloaded=*/false);
    runner.EnableSharding(&shards);
  }
  ~DetectingReplica() {
    shards.Stop();
    runner.Stop();
  }

  // Starts detection, records the member and runs one pass of the shard
  // loop (gaining every shard no live member holds).
  absl::Status Start(const v1::Config& config) {
    RETURN_IF_ERROR(runner.Start(config));
    RETURN_IF_ERROR(beat.BeatOnce());
    return shards.PassOnce();
  }

  cluster::MemberHeartbeat beat;
  cluster::ShardOwnership shards;
  DetectionRunner runner;
};

}  // namespace sonde::collector

#endif  // SONDE_TESTS_INTEGRATION_COLLECTOR_INCIDENTS_DETECTING_REPLICA_H_
