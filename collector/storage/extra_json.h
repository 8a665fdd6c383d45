// The `extra` column of a stored result: the whole ProbeResult as proto3
// JSON with proto field names, exactly as
// google::protobuf::util::MessageToJsonString prints it (set fields only),
// only faster: ingest prints one per result. Strings are escaped by the one
// JSON string escaper (common::AppendJsonString). Pure; any thread.
#ifndef SONDE_COLLECTOR_STORAGE_EXTRA_JSON_H_
#define SONDE_COLLECTOR_STORAGE_EXTRA_JSON_H_

#include <string>

#include "google/protobuf/descriptor.h"
#include "sonde/v1/result.pb.h"

namespace sonde::collector {

std::string ResultJson(const v1::ProbeResult& result);

// True when ResultJson prints messages of type `d` itself (unless a
// floating-point field is set) instead of handing every one to protobuf's
// printer, which costs several times as much. Tests hold ProbeResult to it.
bool DirectJsonCovers(const google::protobuf::Descriptor* d);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_EXTRA_JSON_H_
