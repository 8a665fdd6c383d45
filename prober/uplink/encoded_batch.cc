#include "prober/uplink/encoded_batch.h"

#include <algorithm>

#include "common/proto_time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace sonde::prober {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

constexpr int kResultsField = 4;  // ResultBatch.results

// The stamp's fields, by their ProbeResult field numbers.
struct StampField {
  int number;
  absl::string_view ResultStamp::*value;
};
constexpr StampField kStampFields[] = {
    {v1::ProbeResult::kCheckIdFieldNumber, &ResultStamp::check_id},
    {v1::ProbeResult::kServiceFieldNumber, &ResultStamp::service},
    {v1::ProbeResult::kKindFieldNumber, &ResultStamp::kind},
    {v1::ProbeResult::kProberIdFieldNumber, &ResultStamp::prober_id},
    {v1::ProbeResult::kRegionFieldNumber, &ResultStamp::region},
};

uint32_t StringTag(int number) {
  return WireFormatLite::MakeTag(number, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
}

constexpr uint32_t kSecondsTag = WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT);
constexpr uint32_t kNanosTag = WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_VARINT);

// The start time's Timestamp message, without its tag and length (proto3:
// a zero field is not written; int64 and int32 are plain varints).
size_t StartSize(const common::TimestampFields& t) {
  return (t.seconds != 0 ? 1 + CodedOutputStream::VarintSize64(static_cast<uint64_t>(t.seconds))
                         : 0) +
         (t.nanos != 0 ? 1 + CodedOutputStream::VarintSize32(static_cast<uint32_t>(t.nanos)) : 0);
}

size_t StampSize(const ResultStamp& stamp, const common::TimestampFields& start) {
  size_t size = 0;
  if (stamp.has_start()) {
    const size_t inner = StartSize(start);
    size += 1 + CodedOutputStream::VarintSize32(static_cast<uint32_t>(inner)) + inner;
  }
  for (const StampField& f : kStampFields) {
    const absl::string_view v = stamp.*f.value;
    if (!v.empty()) {  // proto3: an empty string is not written
      size += CodedOutputStream::VarintSize32(StringTag(f.number)) +
              CodedOutputStream::VarintSize32(static_cast<uint32_t>(v.size())) + v.size();
    }
  }
  return size;
}

uint8_t* WriteStamp(const ResultStamp& stamp, const common::TimestampFields& start, uint8_t* p) {
  if (stamp.has_start()) {
    p = CodedOutputStream::WriteVarint32ToArray(StringTag(v1::ProbeResult::kStartTimeFieldNumber),
                                                p);
    p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(StartSize(start)), p);
    if (start.seconds != 0) {
      p = CodedOutputStream::WriteVarint32ToArray(kSecondsTag, p);
      p = CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(start.seconds), p);
    }
    if (start.nanos != 0) {
      p = CodedOutputStream::WriteVarint32ToArray(kNanosTag, p);
      p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(start.nanos), p);
    }
  }
  for (const StampField& f : kStampFields) {
    const absl::string_view v = stamp.*f.value;
    if (!v.empty()) {
      p = CodedOutputStream::WriteVarint32ToArray(StringTag(f.number), p);
      p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(v.size()), p);
      p = std::copy(v.begin(), v.end(), p);
    }
  }
  return p;
}

}  // namespace

size_t AppendEncodedResult(const v1::ProbeResult& result, const ResultStamp& stamp,
                           std::string* out) {
  const common::TimestampFields start =
      common::ToTimestampFields(stamp.has_start() ? stamp.start : absl::UnixEpoch());
  const size_t own = result.ByteSizeLong();
  const size_t size = own + StampSize(stamp, start);
  const uint32_t tag = StringTag(kResultsField);
  const size_t prefix = CodedOutputStream::VarintSize32(tag) +
                        CodedOutputStream::VarintSize32(static_cast<uint32_t>(size));
  const size_t at = out->size();
  out->resize(at + prefix + size);
  auto* p = reinterpret_cast<uint8_t*>(out->data() + at);
  p = CodedOutputStream::WriteVarint32ToArray(tag, p);
  p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(size), p);
  p = result.SerializeWithCachedSizesToArray(p);  // sized just above
  WriteStamp(stamp, start, p);
  return prefix + size;
}

EncodedBatch EncodeBatch(const v1::ResultBatch& header, absl::string_view results,
                         const ResultsMeta& meta) {
  EncodedBatch e;
  e.batch_seq = header.batch_seq();
  e.meta = meta;
  e.gaps.assign(header.gaps().begin(), header.gaps().end());
  const size_t head = header.ByteSizeLong();
  e.bytes.reserve(head + results.size());
  e.bytes.resize(head);
  header.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(e.bytes.data()));
  e.bytes.append(results.data(), results.size());
  return e;
}

ResultsMeta MetaOf(const v1::ResultBatch& batch) {
  ResultsMeta m;
  m.results = static_cast<uint32_t>(batch.results_size());
  if (batch.results_size() > 0) {
    m.first_start = common::ToTime(batch.results(0).start_time());
    m.first_seq = batch.results(0).seq();
    m.last_seq = batch.results(batch.results_size() - 1).seq();
  }
  return m;
}

EncodedBatch EncodeBatch(const v1::ResultBatch& batch) {
  EncodedBatch e;
  e.batch_seq = batch.batch_seq();
  e.meta = MetaOf(batch);
  e.gaps.assign(batch.gaps().begin(), batch.gaps().end());
  e.bytes = batch.SerializeAsString();
  return e;
}

}  // namespace sonde::prober
