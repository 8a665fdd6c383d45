// sondectl status --probers: the table shows applied and pending versions,
// the last transfer and the failures.
#include "sondectl/status.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "common/proto_time.h"

namespace sonde::sondectl {
namespace {

TEST(StatusTest, ProbersTableShowsWhatIsAppliedAndWhatIsPending) {
  EXPECT_EQ(FormatProbersTable(v1::ProbersReply(), absl::Now()), "no probers\n");
  const absl::Time now = absl::FromUnixSeconds(1764965000);
  v1::ProbersReply reply;
  v1::ProberConfigStatus* ok = reply.add_probers();
  ok->set_prober_id("vm-fra");
  ok->set_region("fra");
  ok->set_connected(true);
  ok->set_applied_version("a613651f5273198b");
  ok->set_region_version("a613651f5273198b");
  ok->set_last_transfer("full");
  ok->set_last_transfer_bytes(8978100);
  v1::ProberConfigStatus* stuck = reply.add_probers();
  stuck->set_prober_id("vm-ams");
  stuck->set_region("ams");
  stuck->set_region_version("77aa000000000000");
  stuck->set_delivery_failures(3);
  stuck->set_last_error("stream gone after 1048576 of 8978100 bytes");
  common::SetTimestamp(now - absl::Seconds(65), stuck->mutable_pending_since());
  const std::string table = FormatProbersTable(reply, now);
  EXPECT_NE(table.find("PROBER"), std::string::npos) << table;
  EXPECT_NE(table.find("full 8978100 B"), std::string::npos) << table;
  EXPECT_NE(table.find("1m5s"), std::string::npos) << table;
  EXPECT_NE(table.find("stream gone after 1048576"), std::string::npos) << table;
  EXPECT_NE(table.find("down"), std::string::npos) << table;
}

}  // namespace
}  // namespace sonde::sondectl
