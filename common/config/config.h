// Config loading: YAML file -> sonde.v1.Config, then semantic validation.
//
// The YAML maps 1:1 onto the proto schema (proto field names; durations as
// "10s", "5m"). Conversion walks the YAML alongside the message descriptors,
// so an unknown field, a wrong type or a bad duration is reported with the
// file, the line, the check and the field:
//   sonde.yaml:12: checks[3] "app-tls": tls.port: must be 1..65535
// Every error found is reported, not just the first. The generic walk lives
// in yaml_to_proto.h; this file adds the cross-check rules (unique names,
// known regions, notifiers, maintenance, detection) and the generic
// defaults. Each probe type's own spec rules and defaults live in its
// descriptor (common/checks/). Pure functions; any thread.
#ifndef SONDE_COMMON_CONFIG_CONFIG_H_
#define SONDE_COMMON_CONFIG_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "sonde/v1/check.pb.h"

namespace sonde::common {

// Reads, converts, validates and fills defaults. The returned config is ready
// to run: every check has interval, timeout, service and regions set.
absl::StatusOr<v1::Config> LoadConfigFile(const std::string& path);

// As LoadConfigFile, from text; `filename` is used in error messages.
absl::StatusOr<v1::Config> ParseConfig(const std::string& yaml_text, const std::string& filename);

// The checks that run in `region` (a check without regions runs everywhere).
std::vector<v1::Check> ChecksForRegion(const v1::Config& config, const std::string& region);

// Older spellings of common/proto_time.h's ToDuration and SetDuration, kept
// for callers outside the prober; new code uses proto_time.h.
inline absl::Duration ToAbsl(const google::protobuf::Duration& d) { return ToDuration(d); }
inline void FromAbsl(absl::Duration d, google::protobuf::Duration* out) { SetDuration(d, out); }

}  // namespace sonde::common

#endif  // SONDE_COMMON_CONFIG_CONFIG_H_
