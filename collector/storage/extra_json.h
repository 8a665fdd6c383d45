// The `extra` column of a stored result: the whole ProbeResult as proto3
// JSON with proto field names, as google::protobuf::util::MessageToJsonString
// prints it (set fields only, in field-number order, one line), only
// faster: ingest prints one per result, through the generated accessors.
// Strings are escaped by the one JSON string escaper
// (common::AppendJsonString), which leaves `<`, `>`, DEL, U+2028 and U+2029
// as they are where protobuf writes \u escapes: the same JSON value. Pure;
// any thread.
#ifndef SONDE_COLLECTOR_STORAGE_EXTRA_JSON_H_
#define SONDE_COLLECTOR_STORAGE_EXTRA_JSON_H_

#include <string>

#include "google/protobuf/descriptor.h"
#include "sonde/v1/result.pb.h"

namespace sonde::collector {

std::string ResultJson(const v1::ProbeResult& result);

// Appends ResultJson(result) as one field of COPY's text format (what
// AppendCopyField(ResultJson(result), out) appends), printed in one pass.
void AppendResultJsonCopyField(const v1::ProbeResult& result, std::string* out);

// True when `d` is ProbeResult with exactly the fields (and nested messages)
// ResultJson's printer was written for. Otherwise every result goes through
// protobuf's printer, several times slower; tests hold ProbeResult to it, so
// a new field fails them until the printer prints it.
bool DirectJsonCovers(const google::protobuf::Descriptor* d);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_EXTRA_JSON_H_
