// The generic half of config loading: walks a YAML document (yaml_document.h)
// alongside a message's descriptor (the YAML maps 1:1 onto the proto schema:
// proto field names, durations as "10s", timestamps as RFC 3339) and fills
// the message through reflection. Unknown fields (with a "did you mean"),
// wrong types, bad durations and a oneof set twice are reported to
// ConfigErrors. It knows no config semantics and no check type. Pure; any
// thread.
//
// Lines cost nothing until an error needs one: NoteYamlLines walks the
// document again and notes every element's and field's line, and
// ConfigErrors runs it once, before it formats its first error
// (ConfigErrors::SetLineSource).
#ifndef SONDE_COMMON_CONFIG_YAML_TO_PROTO_H_
#define SONDE_COMMON_CONFIG_YAML_TO_PROTO_H_

#include "common/config/config_errors.h"
#include "common/config/yaml_document.h"
#include "google/protobuf/message.h"

namespace sonde::common {

// Fills `out` from `doc` (not empty). Problems in the document go to
// `errors`; `out` is then left clear.
void YamlToProto(const YamlDocument& doc, google::protobuf::Message* out, ConfigErrors* errors);

// Notes in `lines` the line of every list element and field of `doc`
// walked as a `type`, under the names YamlToProto's errors use.
void NoteYamlLines(const YamlDocument& doc, const google::protobuf::Descriptor* type,
                   ConfigErrors* lines);

}  // namespace sonde::common

#endif  // SONDE_COMMON_CONFIG_YAML_TO_PROTO_H_
