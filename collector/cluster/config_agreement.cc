#include "collector/cluster/config_agreement.h"

#include "absl/strings/str_cat.h"
#include "common/config/config_transfer.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace sonde::collector::cluster {

std::string ConfigVersionOf(const v1::Config& config) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    config.SerializeToCodedStream(&coded);
  }
  // The same FNV-1a as a check's version (config_transfer.h): an identity,
  // not a secret.
  return absl::StrCat(absl::Hex(common::CheckHash(bytes), absl::kZeroPad16));
}

Agreement Decide(const AgreementInput& in) {
  if (in.mine.empty()) {
    return Agreement::kNoConfig;
  }
  if (in.recorded == in.mine) {
    return Agreement::kInStep;
  }
  if (in.recorded.empty() || in.reloaded || !in.recorded_live) {
    return Agreement::kRecordMine;
  }
  return Agreement::kOutOfStep;
}

}  // namespace sonde::collector::cluster
