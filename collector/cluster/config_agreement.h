// One config version for every collector replica (docs/ha.md, "One config
// version"): the version of a Sonde config, and the rule a replica applies
// at each heartbeat to the version recorded in PostgreSQL
// (`cluster_config`). Pure functions, any thread.
//
// The recorded version is the one detection runs on. A replica whose
// config differs is out of step: it stores results and answers queries,
// but takes no detection shard (once shards exist; docs/ha.md) until its
// file matches. The recorded version moves when an operator changes it on
// purpose -- a replica *reloaded* a new file (SIGHUP or the file watch) --
// or when no live replica runs it any more (every replica was restarted
// with a new file). A replica that merely (re)starts with another file
// while live replicas run the recorded version does not move it: an old
// file on a forgotten host cannot take the cluster back.
#ifndef SONDE_COLLECTOR_CLUSTER_CONFIG_AGREEMENT_H_
#define SONDE_COLLECTOR_CLUSTER_CONFIG_AGREEMENT_H_

#include <string>

#include "sonde/v1/check.pb.h"

namespace sonde::collector::cluster {

// 16 hex digits over the config's deterministic serialization: equal for
// the same file on every replica of one software version, different for
// any change (checks, notifiers, detection settings, routes, ...).
std::string ConfigVersionOf(const v1::Config& config);

struct AgreementInput {
  std::string mine;            // this replica's version; "" = runs without --config
  std::string recorded;        // cluster_config.version; "" = nothing recorded yet
  bool reloaded = false;       // `mine` came from a reload since the last beat
  bool recorded_live = false;  // another live replica runs `recorded`
};

enum class Agreement {
  kNoConfig,    // without a config: records nothing, never runs detection
  kInStep,      // mine == recorded
  kRecordMine,  // record mine (then in step)
  kOutOfStep,   // another version is recorded and live elsewhere
};

Agreement Decide(const AgreementInput& in);

}  // namespace sonde::collector::cluster

#endif  // SONDE_COLLECTOR_CLUSTER_CONFIG_AGREEMENT_H_
