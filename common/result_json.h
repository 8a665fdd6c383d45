// The --once and API encoding of a ProbeResult: proto3 JSON, proto field
// names, every field printed (defaults included), one line.
#ifndef SONDE_COMMON_RESULT_JSON_H_
#define SONDE_COMMON_RESULT_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace sonde::common {

// One line of JSON, no trailing newline. Works for any message.
std::string ToJsonLine(const google::protobuf::Message& message);

}  // namespace sonde::common

#endif  // SONDE_COMMON_RESULT_JSON_H_
