// sondectl status --probers: the table shows each prober's version, last
// seen, lateness and spool, its applied and pending versions, the last
// transfer and the failures.
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
  common::SetTimestamp(now - absl::Seconds(3), ok->mutable_last_seen());
  ok->mutable_status()->set_version("0.9.1");
  common::SetDuration(absl::Milliseconds(12), ok->mutable_status()->mutable_lateness_p99());
  ok->mutable_status()->set_spool_bytes(40960);
  ok->mutable_status()->set_unacked_results(17);
  common::SetDuration(absl::Seconds(4), ok->mutable_status()->mutable_oldest_unacked_age());
  const std::string table = FormatProbersTable(reply, now);
  EXPECT_NE(table.find("PROBER"), std::string::npos) << table;
  EXPECT_NE(table.find("full 8978100 B"), std::string::npos) << table;
  EXPECT_NE(table.find("1m5s"), std::string::npos) << table;
  EXPECT_NE(table.find("stream gone after 1048576"), std::string::npos) << table;
  EXPECT_NE(table.find("down"), std::string::npos) << table;
  // Its batches' status: version, last seen, lateness p99, spool depth.
  EXPECT_NE(table.find("VERSION  LAST-SEEN"), std::string::npos) << table;
  EXPECT_NE(table.find("0.9.1"), std::string::npos) << table;
  EXPECT_NE(table.find("3s ago"), std::string::npos) << table;
  EXPECT_NE(table.find("12ms"), std::string::npos) << table;
  EXPECT_NE(table.find("40960 B 17 unacked oldest 4s"), std::string::npos) << table;
}

TEST(StatusTest, CollectorsTableShowsEachReplicaAndWhetherItsConfigIsTheRecordedOne) {
  EXPECT_NE(FormatCollectorsTable(v1::CollectorsReply()).find("no collector replicas"),
            std::string::npos);
  const absl::Time as_of = absl::FromUnixSeconds(1764965000);
  v1::CollectorsReply reply;
  common::SetTimestamp(as_of, reply.mutable_as_of());
  reply.set_answered_by("c1:7600");
  reply.set_recorded_config_version("a613651f5273198b");
  reply.set_recorded_by("c1:7600");
  common::SetTimestamp(as_of - absl::Minutes(5), reply.mutable_recorded_at());
  struct Row {
    const char* id;
    const char* config;
    bool live;
    bool in_step;
  };
  for (const Row& r : {Row{"c1:7600", "a613651f5273198b", true, true},
                       Row{"c2:7600", "77aa000000000000", true, false},
                       Row{"c3:7600", "a613651f5273198b", false, true}}) {
    v1::CollectorMember* m = reply.add_members();
    m->set_replica_id(r.id);
    m->set_address(r.id);
    m->set_software_version("0.9.1");
    m->set_config_version(r.config);
    m->set_live(r.live);
    m->set_in_step(r.in_step);
    common::SetTimestamp(as_of - absl::Hours(2), m->mutable_started_at());
    common::SetTimestamp(as_of - (r.live ? absl::Seconds(1) : absl::Minutes(3)),
                         m->mutable_last_seen());
    if (r.in_step && r.live) {
      for (int s : {0, 1, 2, 5, 9, 10}) {
        m->add_shards(s);
      }
    }
  }
  reply.set_notify_scheduler("c1:7600");
  const std::string table = FormatCollectorsTable(reply);
  EXPECT_NE(table.find("config version for detection: a613651f5273198b (recorded by c1:7600, "
                       "5m ago)"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("c1:7600 *"), std::string::npos) << "the answering replica" << table;
  EXPECT_NE(table.find("77aa000000000000  NO"), std::string::npos) << table;
  EXPECT_NE(table.find("gone"), std::string::npos) << table;
  EXPECT_NE(table.find("3m ago"), std::string::npos) << table;
  EXPECT_NE(table.find("2h"), std::string::npos) << table;
  EXPECT_NE(table.find("6 (0-2,5,9-10)"), std::string::npos) << "c1's shards" << table;
  EXPECT_NE(table.find("notification scheduler: c1:7600"), std::string::npos) << table;
}

}  // namespace
}  // namespace sonde::sondectl
