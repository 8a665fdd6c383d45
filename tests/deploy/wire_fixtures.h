// The messages behind tests/fixtures/upgrade-0.1.0/*.pb, built with today's
// schema: a realistic batch (what a prober of check "shop-tcp" in region
// fra sends), a batch with every field set (reflection fills each one, so a
// field added later is covered without editing this), and a ProberHello.
// Pure functions; used by wire_compat_test and upgrade_test.
#ifndef SONDE_TESTS_DEPLOY_WIRE_FIXTURES_H_
#define SONDE_TESTS_DEPLOY_WIRE_FIXTURES_H_

#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::testing {

// The contents of tests/fixtures/upgrade-0.1.0/NAME (via $SONDE_SOURCE_DIR,
// which ctest sets); empty when missing.
std::string ReadFixture(const std::string& name);

v1::ResultBatch RealisticBatch();
v1::ResultBatch EveryFieldBatch();
v1::ProberHello Hello();

// Clears, recursively, the fields of `m` whose numbers `known` (the same
// message in an older schema) does not have.
void ClearFieldsUnknownTo(const google::protobuf::Descriptor* known, google::protobuf::Message* m);

}  // namespace sonde::testing

#endif  // SONDE_TESTS_DEPLOY_WIRE_FIXTURES_H_
