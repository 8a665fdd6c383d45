// sonde-bench-feed: how fast a shard owner reads the result feed
// (collector/cluster/result_feed.h) from a database that ingest filled
// (bench/feed/run.sh fills it with sonde-bench-ingest through a collector).
//
// Reads, each timed: every result of the feed for all 64 shards (one
// ResultFeed following them from the feed's start), the same for a third
// of the shards (one replica of three), and a rebuild of every stored
// check's results (ReadResultsSince). Prints results/s per read.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "collector/cluster/result_feed.h"
#include "collector/cluster/shards.h"
#include "collector/storage/pg/pg.h"
#include "common/flags.h"

namespace sonde {
namespace {

using collector::cluster::FeedPosition;
using collector::cluster::FeedReadStats;
using collector::cluster::kShardCount;
using collector::cluster::ResultFeed;

constexpr char kUsage[] =
    R"(usage: sonde-bench-feed --postgres CONNINFO

Reads the result feed of a filled database as a shard owner does and prints
results/s. bench/feed/run.sh fills a private PostgreSQL and runs this.)";

// The snapshot before every transaction (3 is the first normal xid).
const FeedPosition kFeedStart{"3:3:"};

void Report(const char* what, absl::StatusOr<FeedReadStats> stats, absl::Duration took) {
  if (!stats.ok()) {
    std::cerr << what << ": " << stats.status() << "\n";
    return;
  }
  const double s = absl::ToDoubleSeconds(took);
  std::cout << absl::StrFormat("%-34s %9d feed rows %10d results in %6.2f s: %8.0f results/s\n",
                               what, stats->feed_rows, stats->results, s,
                               s > 0 ? stats->results / s : 0.0);
}

absl::StatusOr<FeedReadStats> ReadFeed(PGconn* c, int every_nth_shard) {
  ResultFeed feed;
  for (int shard = 0; shard < kShardCount; shard += every_nth_shard) {
    feed.Follow(shard, kFeedStart);
  }
  return feed.Read(c, [](v1::ResultBatch&&) { return absl::OkStatus(); });
}

int Main(int argc, char** argv) {
  std::string postgres;
  common::FlagSet flags("sonde-bench-feed", kUsage);
  flags.String("postgres", &postgres, "libpq connection string of the filled database.");
  auto rest = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  if (!rest.ok() || postgres.empty()) {
    std::cerr << (rest.ok() ? "--postgres is required" : rest.status().ToString()) << "\n";
    return 2;
  }
  auto conn = collector::pg::Connect(postgres, "sonde-bench-feed");
  if (!conn.ok()) {
    std::cerr << conn.status() << "\n";
    return 1;
  }
  PGconn* c = conn->get();

  absl::Time t = absl::Now();
  auto all = ReadFeed(c, 1);
  Report("feed, all 64 shards", all, absl::Now() - t);
  t = absl::Now();
  auto third = ReadFeed(c, 3);
  Report("feed, every 3rd shard", third, absl::Now() - t);

  auto checks = collector::pg::Exec(c, "SELECT DISTINCT check_id FROM results", "checks");
  if (!checks.ok()) {
    std::cerr << checks.status() << "\n";
    return 1;
  }
  std::vector<std::string> ids;
  for (int i = 0; i < PQntuples(checks->get()); ++i) {
    ids.push_back(PQgetvalue(checks->get(), i, 0));
  }
  FeedReadStats rebuilt;
  t = absl::Now();
  auto at = collector::cluster::ReadResultsSince(
      c, ids, absl::Now() - absl::Hours(1), [](v1::ResultBatch&&) { return absl::OkStatus(); },
      &rebuilt);
  Report("rebuild, every check, last hour",
         at.ok() ? absl::StatusOr<FeedReadStats>(rebuilt) : at.status(), absl::Now() - t);
  return all.ok() && third.ok() && at.ok() ? 0 : 1;
}

}  // namespace
}  // namespace sonde

int main(int argc, char** argv) { return sonde::Main(argc, argv); }
