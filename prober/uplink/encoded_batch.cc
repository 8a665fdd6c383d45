#include "prober/uplink/encoded_batch.h"

#include "common/proto_time.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace sonde::prober {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr int kResultsField = 4;  // ResultBatch.results

}  // namespace

size_t AppendEncodedResult(const v1::ProbeResult& result, std::string* out) {
  const size_t size = result.ByteSizeLong();
  const uint32_t tag =
      WireFormatLite::MakeTag(kResultsField, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  const size_t prefix =
      google::protobuf::io::CodedOutputStream::VarintSize32(tag) +
      google::protobuf::io::CodedOutputStream::VarintSize32(static_cast<uint32_t>(size));
  const size_t at = out->size();
  out->resize(at + prefix + size);
  auto* p = reinterpret_cast<uint8_t*>(out->data() + at);
  p = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(tag, p);
  p = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(size), p);
  result.SerializeWithCachedSizesToArray(p);  // sized just above
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
