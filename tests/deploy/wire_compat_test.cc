// The proto is the contract between probers and collectors one version
// apart: fields are added, never renumbered or retyped. This test holds a
// copy of the 0.1.0 .proto files (tests/fixtures/upgrade-0.1.0/proto,
// package renamed sonde.v0_1 so both compile into one binary) and bytes
// serialised by 0.1.0 (*.pb beside them), and checks both directions:
//  - every 0.1.0 field and enum value still exists with its number, name
//    and type in today's schema (descriptor check, every message);
//  - 0.1.0 bytes parse under today's schema with nothing unknown and the
//    same content;
//  - today's messages (every field set) parse under the 0.1.0 schema, and
//    the fields 0.1.0 knows keep their values.
// The collector accepting the 0.1.0 batch end to end is in upgrade_test.
//
// SONDE_WRITE_WIRE_FIXTURES=DIR writes the fixture bytes from this build
// (done once per release; see tests/fixtures/upgrade-0.1.0/README.md).
#include <cstdlib>
#include <fstream>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "gtest/gtest.h"
#include "sonde/v1/collector.pb.h"
#include "sonde_v0_1/collector.pb.h"
#include "tests/deploy/wire_fixtures.h"

namespace sonde {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;

// The message of today's schema with the old one's name.
const Descriptor* Current(const Descriptor* old) {
  std::string name = old->full_name();
  name.replace(0, std::string("sonde.v0_1").size(), "sonde.v1");
  return google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
}

void ExpectEnumCompatible(const EnumDescriptor* old, const EnumDescriptor* now) {
  ASSERT_NE(now, nullptr) << old->full_name() << " was removed";
  for (int i = 0; i < old->value_count(); ++i) {
    const auto* v = now->FindValueByNumber(old->value(i)->number());
    ASSERT_NE(v, nullptr) << old->value(i)->full_name() << " was removed";
    EXPECT_EQ(v->name(), old->value(i)->name()) << old->full_name() << " renamed a value";
  }
}

void ExpectMessageCompatible(const Descriptor* old) {
  const Descriptor* now = Current(old);
  ASSERT_NE(now, nullptr) << old->full_name() << " was removed";
  for (int i = 0; i < old->field_count(); ++i) {
    const FieldDescriptor* f = old->field(i);
    const FieldDescriptor* g = now->FindFieldByNumber(f->number());
    ASSERT_NE(g, nullptr) << f->full_name() << " (" << f->number() << ") was removed";
    EXPECT_EQ(g->name(), f->name()) << f->full_name() << ": number reused";
    EXPECT_EQ(g->type(), f->type()) << f->full_name() << ": type changed";
    EXPECT_EQ(g->is_repeated(), f->is_repeated()) << f->full_name() << ": label changed";
    if (f->message_type() != nullptr && f->message_type()->file()->package() == "sonde.v0_1") {
      EXPECT_EQ(g->message_type()->full_name(), Current(f->message_type())->full_name());
    }
    if (f->enum_type() != nullptr && f->enum_type()->file()->package() == "sonde.v0_1") {
      std::string name = f->enum_type()->full_name();
      name.replace(0, std::string("sonde.v0_1").size(), "sonde.v1");
      EXPECT_EQ(g->enum_type()->full_name(), name);
    }
  }
  for (int i = 0; i < old->nested_type_count(); ++i) {
    ExpectMessageCompatible(old->nested_type(i));
  }
  for (int i = 0; i < old->enum_type_count(); ++i) {
    ExpectEnumCompatible(old->enum_type(i), now->FindEnumTypeByName(old->enum_type(i)->name()));
  }
}

TEST(WireCompatTest, Every010FieldKeepsItsNumberNameAndType) {
  for (const FileDescriptor* file :
       {v0_1::ResultBatch::descriptor()->file(), v0_1::ProbeResult::descriptor()->file(),
        v0_1::Check::descriptor()->file()}) {
    for (int i = 0; i < file->message_type_count(); ++i) {
      ExpectMessageCompatible(file->message_type(i));
    }
    for (int i = 0; i < file->enum_type_count(); ++i) {
      const EnumDescriptor* old = file->enum_type(i);
      std::string name = old->full_name();
      name.replace(0, std::string("sonde.v0_1").size(), "sonde.v1");
      ExpectEnumCompatible(
          old, google::protobuf::DescriptorPool::generated_pool()->FindEnumTypeByName(name));
    }
  }
}

// Bytes written by 0.1.0 read the same under both schemas, nothing unknown.
template <typename Old, typename Now>
void ExpectOldBytesReadAlike(const std::string& file) {
  const std::string bytes = testing::ReadFixture(file);
  ASSERT_FALSE(bytes.empty()) << file;
  Old old;
  Now now;
  ASSERT_TRUE(old.ParseFromString(bytes)) << file;
  ASSERT_TRUE(now.ParseFromString(bytes)) << file;
  // Equal text also means nothing was unknown to today's schema: unknown
  // fields print as numbers, known ones by name.
  EXPECT_EQ(now.DebugString(), old.DebugString()) << file;
  std::string again;
  ASSERT_TRUE(now.SerializeToString(&again));
  EXPECT_EQ(again, bytes) << file << ": today's schema writes the content differently";
}

TEST(WireCompatTest, Bytes010ParseUnderTodaysSchema) {
  ExpectOldBytesReadAlike<v0_1::ResultBatch, v1::ResultBatch>("result_batch.pb");
  ExpectOldBytesReadAlike<v0_1::ResultBatch, v1::ResultBatch>("every_field_batch.pb");
  ExpectOldBytesReadAlike<v0_1::ProberHello, v1::ProberHello>("prober_hello.pb");
}

// Today's message with every field set parses under 0.1.0; the fields 0.1.0
// knows read back as written (new ones are kept as unknown fields).
template <typename Old, typename Now>
void ExpectTodaysBytesReadByOld(const Now& now) {
  Old old;
  ASSERT_TRUE(old.ParseFromString(now.SerializeAsString()));
  old.DiscardUnknownFields();
  Now back;
  ASSERT_TRUE(back.ParseFromString(old.SerializeAsString()));
  Now expected = now;
  testing::ClearFieldsUnknownTo(Old::descriptor(), &expected);
  EXPECT_EQ(back.DebugString(), expected.DebugString());
}

TEST(WireCompatTest, TodaysMessagesParseUnder010Schema) {
  ExpectTodaysBytesReadByOld<v0_1::ResultBatch>(testing::EveryFieldBatch());
  ExpectTodaysBytesReadByOld<v0_1::ResultBatch>(testing::RealisticBatch());
  ExpectTodaysBytesReadByOld<v0_1::ProberHello>(testing::Hello());
}

TEST(WireCompatTest, WriteFixturesWhenAsked) {
  const char* dir = std::getenv("SONDE_WRITE_WIRE_FIXTURES");
  if (dir == nullptr) {
    GTEST_SKIP() << "set SONDE_WRITE_WIRE_FIXTURES=DIR to write the fixture bytes";
  }
  std::ofstream(std::string(dir) + "/result_batch.pb", std::ios::binary)
      << testing::RealisticBatch().SerializeAsString();
  std::ofstream(std::string(dir) + "/every_field_batch.pb", std::ios::binary)
      << testing::EveryFieldBatch().SerializeAsString();
  std::ofstream(std::string(dir) + "/prober_hello.pb", std::ios::binary)
      << testing::Hello().SerializeAsString();
}

}  // namespace
}  // namespace sonde
