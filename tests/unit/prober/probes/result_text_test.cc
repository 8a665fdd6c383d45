// The last line of defence in DeliverResults: a string field a probe let
// through unmade is repaired (valid UTF-8, escaped, capped) and counted.
#include "prober/probes/result_text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "prober/probes/probe.h"

namespace sonde::prober {
namespace {

TEST(ResultTextTest, RepairsEveryStringFieldNestedOnesIncludedAndCountsThem) {
  v1::ProbeResult r;
  r.set_check_id("clean");
  r.set_detail("554 \xff\xfe not UTF-8");
  r.add_cert_sans("ok.example");
  r.add_cert_sans(std::string("nul\0inside", 10));
  v1::DnsResolverResult* dns = r.add_dns();
  dns->set_resolver("127.0.0.1:53");
  dns->add_answers()->set_data("caf\xe9");  // Latin-1
  r.set_banner(std::string(5000, '\xff'));
  const uint64_t before = RepairedTextFields();

  EXPECT_EQ(RepairResultText(&r), 4u);
  EXPECT_EQ(RepairedTextFields() - before, 4u);
  EXPECT_EQ(r.check_id(), "clean");
  EXPECT_EQ(r.detail(), "554 \\xff\\xfe not UTF-8");
  EXPECT_EQ(r.cert_sans(0), "ok.example");
  EXPECT_EQ(r.cert_sans(1), "nul\\x00inside");
  EXPECT_EQ(r.dns(0).answers(0).data(), "caf\\xe9");
  EXPECT_LE(r.banner().size(), kDetailMaxBytes);
  EXPECT_TRUE(IsCleanUtf8(r.banner()));
  // The result now serializes and parses back: the batch it joins survives.
  v1::ProbeResult back;
  ASSERT_TRUE(back.ParseFromString(r.SerializeAsString()));
  EXPECT_EQ(RepairResultText(&back), 0u);
}

// Every string field reachable from ProbeResult, as the message fields that
// lead to it followed by the field itself.
using FieldPath = std::vector<const google::protobuf::FieldDescriptor*>;
void StringPaths(const google::protobuf::Descriptor* d, FieldPath prefix,
                 std::vector<FieldPath>* out) {
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    FieldPath path = prefix;
    path.push_back(f);
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE && prefix.size() < 4) {
      StringPaths(f->message_type(), path, out);
    } else if (f->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      out->push_back(path);
    }
  }
}

// RepairResultText reads the fields by their generated accessors: a string
// field added to the proto (at any depth) without being added there fails
// here.
TEST(ResultTextTest, EveryStringFieldOfTheProtoIsChecked) {
  std::vector<FieldPath> paths;
  StringPaths(v1::ProbeResult::descriptor(), {}, &paths);
  ASSERT_GE(paths.size(), 25u);  // 20 in ProbeResult, 2 per resolver, 3 per record
  const std::string bad = "bad \xff bytes";
  for (const FieldPath& path : paths) {
    v1::ProbeResult r;
    google::protobuf::Message* m = &r;
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      const google::protobuf::Reflection* refl = m->GetReflection();
      m = path[i]->is_repeated() ? refl->AddMessage(m, path[i]) : refl->MutableMessage(m, path[i]);
    }
    const google::protobuf::FieldDescriptor* f = path.back();
    if (f->is_repeated()) {
      m->GetReflection()->AddString(m, f, bad);
    } else {
      m->GetReflection()->SetString(m, f, bad);
    }
    EXPECT_EQ(RepairResultText(&r), 1u) << f->full_name();
    const std::string now = f->is_repeated() ? m->GetReflection()->GetRepeatedString(*m, f, 0)
                                             : m->GetReflection()->GetString(*m, f);
    EXPECT_EQ(now, "bad \\xff bytes") << f->full_name();
  }
}

TEST(ResultTextTest, DeliverResultsRepairsBeforeTheCallbackSeesTheResults) {
  std::vector<v1::ProbeResult> got;
  Probe::Done done = [&](Probe::Results rs) {
    for (const v1::ProbeResult* r : rs) {
      got.push_back(*r);
    }
  };
  std::vector<v1::ProbeResult> results(2);
  results[0].set_detail("fine");
  results[1].set_detail("bad \xc3");  // a cut sequence
  v1::ProbeResult* ptrs[] = {&results[0], &results[1]};
  DeliverResults(&done, ptrs);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].detail(), "fine");
  EXPECT_EQ(got[1].detail(), "bad \\xc3");
  EXPECT_FALSE(done);  // moved out: called exactly once
}

}  // namespace
}  // namespace sonde::prober
