// The service a check belongs to: its `service`, or its name when it has
// none (check.proto). Incidents are grouped per service (collector/detect)
// and detection is sharded per service (collector/cluster/shards.h), so
// both take the service from here, from a check of the config or from a
// result the prober sent (whose `service` the prober copied from its
// check). Pure; any thread.
#ifndef SONDE_COMMON_CHECK_SERVICE_H_
#define SONDE_COMMON_CHECK_SERVICE_H_

#include <string>

#include "sonde/v1/check.pb.h"
#include "sonde/v1/result.pb.h"

namespace sonde::common {

inline const std::string& ServiceOf(const v1::Check& check) {
  return check.service().empty() ? check.name() : check.service();
}

inline const std::string& ServiceOf(const v1::ProbeResult& result) {
  return result.service().empty() ? result.check_id() : result.service();
}

}  // namespace sonde::common

#endif  // SONDE_COMMON_CHECK_SERVICE_H_
