// The generic half of config loading: walks a YAML document alongside a
// message's descriptor (the YAML maps 1:1 onto the proto schema: proto field
// names, durations as "10s", timestamps as RFC 3339) and fills the message.
// Unknown fields (with a "did you mean"), wrong types, bad durations and a
// oneof set twice are reported to ConfigErrors with their lines. It knows no
// config semantics and no check type. Pure; any thread.
#ifndef SONDE_COMMON_CONFIG_YAML_TO_PROTO_H_
#define SONDE_COMMON_CONFIG_YAML_TO_PROTO_H_

#include "absl/status/status.h"
#include "common/config/config_errors.h"
#include "google/protobuf/message.h"
#include "yaml-cpp/yaml.h"

namespace sonde::common {

// Fills `out` from `root`. Problems in the document go to `errors` (`out` is
// then left unset). A non-OK status means the walk produced JSON that
// protobuf refused: a defect in the walk, not in the document.
absl::Status YamlToProto(const YAML::Node& root, google::protobuf::Message* out,
                         ConfigErrors* errors);

}  // namespace sonde::common

#endif  // SONDE_COMMON_CONFIG_YAML_TO_PROTO_H_
