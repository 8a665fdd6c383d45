// Schema upgrades: `sonde-collector migrate --dry-run` lists what an empty
// database lacks and changes nothing, `migrate` applies it (then nothing is
// pending), and a database migrated by a newer collector is refused by both
// `migrate` and the daemon (exit 1, nothing written). A database made by
// 0.1.0 (tests/fixtures/upgrade-0.1.0/sonde.sql) is migrated with every row
// intact and stays queryable, and the collector accepts 0.1.0's wire bytes
// (ResultBatch stored and acked, ProberHello answered with the checks).
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sonde/v1/collector.grpc.pb.h"
#include "tests/deploy/wire_fixtures.h"
#include "tests/testing/postgres_fixture.h"
#include "tests/testing/process.h"

namespace sonde {
namespace {

using ::sonde::testing::BinPath;
using ::sonde::testing::RunCommand;

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

// The first column of the first row, or "<error>".
std::string QueryOne(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  PGresult* r = PQexec(c, sql.c_str());
  std::string v =
      PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "<error>";
  PQclear(r);
  PQfinish(c);
  return v;
}

int Migrate(const std::string& conninfo, bool dry_run, std::string* out) {
  std::vector<std::string> argv = {BinPath("sonde-collector"), "migrate", "--postgres", conninfo};
  if (dry_run) {
    argv.push_back("--dry-run");
  }
  return RunCommand(argv, out);
}

TEST(UpgradeTest, DryRunListsThenMigrateAppliesThenNothingIsPending) {
  const std::string conninfo = sonde::testing::PostgresEnvironment::conninfo();
  ASSERT_FALSE(conninfo.empty());
  std::string out;
  ASSERT_EQ(Migrate(conninfo, /*dry_run=*/true, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "pending 1 ")) << out;
  EXPECT_EQ(QueryOne(conninfo, "SELECT to_regclass('schema_migrations') IS NULL"), "t");

  ASSERT_EQ(Migrate(conninfo, /*dry_run=*/false, &out), 0) << out;
  const std::string version = QueryOne(conninfo, "SELECT max(version) FROM schema_migrations");
  EXPECT_NE(version, "<error>");
  EXPECT_EQ(QueryOne(conninfo, "SELECT count(*) FROM incidents"), "0");

  ASSERT_EQ(Migrate(conninfo, /*dry_run=*/true, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "; 0 pending")) << out;
  EXPECT_FALSE(absl::StrContains(out, "pending 1 ")) << out;
}

TEST(UpgradeTest, ASchemaNewerThanTheBinaryIsRefused) {
  const std::string conninfo = sonde::testing::PostgresEnvironment::conninfo();
  ASSERT_FALSE(conninfo.empty());
  std::string out;
  ASSERT_EQ(Migrate(conninfo, /*dry_run=*/false, &out), 0) << out;
  ASSERT_EQ(QueryOne(conninfo,
                     "INSERT INTO schema_migrations (version) VALUES (100000) RETURNING version"),
            "100000");
  EXPECT_EQ(Migrate(conninfo, /*dry_run=*/true, &out), 1) << out;
  EXPECT_EQ(Migrate(conninfo, /*dry_run=*/false, &out), 1) << out;
  // The daemon stops at start-up with exit status 1 (operational failure).
  EXPECT_EQ(RunCommand({BinPath("sonde-collector"), "--insecure", "--listen", "127.0.0.1:0",
                        "--postgres", conninfo},
                       &out, std::chrono::seconds(60)),
            1)
      << out;
  EXPECT_EQ(QueryOne(conninfo, "SELECT count(*) FROM schema_migrations WHERE version = 100000"),
            "1");
}

// "table rows" lines of counts.txt.
std::map<std::string, std::string> ExpectedCounts() {
  std::map<std::string, std::string> out;
  std::istringstream in(testing::ReadFixture("counts.txt"));
  std::string table, rows;
  while (in >> table >> rows) {
    out[table] = rows;
  }
  return out;
}

TEST(UpgradeTest, ADatabaseMadeBy010IsMigratedIntactAndServesOldWireBytes) {
  const std::string conninfo = sonde::testing::PostgresEnvironment::conninfo();
  ASSERT_FALSE(conninfo.empty());
  std::string out;
  ASSERT_EQ(RunCommand({"/usr/bin/psql", "-v", "ON_ERROR_STOP=1", "-q", "-d", conninfo, "-f",
                        std::string(std::getenv("SONDE_SOURCE_DIR")) +
                            "/tests/fixtures/upgrade-0.1.0/sonde.sql"},
                       &out, std::chrono::seconds(60)),
            0)
      << out;
  ASSERT_EQ(Migrate(conninfo, /*dry_run=*/false, &out), 0) << out;
  const std::map<std::string, std::string> counts = ExpectedCounts();
  ASSERT_GE(counts.size(), 7u);
  for (const auto& [table, rows] : counts) {
    if (table == "schema_migrations") {
      continue;  // grows by the migrations this version adds
    }
    EXPECT_EQ(QueryOne(conninfo, absl::StrCat("SELECT count(*) FROM ", table)), rows) << table;
  }
  EXPECT_GT(std::stoi(counts.at("incidents")), 0);
  EXPECT_GT(std::stoi(counts.at("outbox")), 0);
  const std::string incident = QueryOne(conninfo, "SELECT min(id) FROM incidents");

  // The new collector serves the old rows and the old bytes.
  const std::string config = ::testing::TempDir() + "/upgrade.yaml";
  std::ofstream(config) << "regions: [fra, ams]\n"
                           "checks:\n"
                           "  - {name: shop-tcp, service: shop, tcp: {host: 127.0.0.1, port: 1}}\n";
  const int port = sonde::testing::FreePort();
  const std::string addr = absl::StrCat("127.0.0.1:", port);
  sonde::testing::Process collector({BinPath("sonde-collector"), "--insecure", "--listen", addr,
                                     "--postgres", conninfo, "--config", config},
                                    ::testing::TempDir() + "/upgrade-collector.log");
  ASSERT_TRUE(sonde::testing::WaitForPort(port, std::chrono::seconds(60))) << collector.Log();
  ASSERT_EQ(RunCommand({BinPath("sondectl"), "incident", incident, "--collector", addr, "--format",
                        "json"},
                       &out),
            0)
      << out;
  EXPECT_TRUE(absl::StrContains(out, "shop")) << out;
  // (No `sondectl report` here: its window ends now, and the fixture's
  // results age out of any window; the rollup rows are counted above.)

  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  v1::ResultBatch batch;
  ASSERT_TRUE(batch.ParseFromString(testing::ReadFixture("result_batch.pb")));
  {
    auto stub = v1::Ingest::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = stub->Report(&ctx);
    ASSERT_TRUE(stream->Write(batch));
    v1::Ack ack;
    ASSERT_TRUE(stream->Read(&ack)) << collector.Log();
    EXPECT_EQ(ack.batch_seq(), batch.batch_seq());
    EXPECT_FALSE(ack.duplicate());
    stream->WritesDone();
  }
  EXPECT_EQ(QueryOne(conninfo, "SELECT count(*) FROM results WHERE prober_id = 'fixture-fra'"),
            std::to_string(batch.results_size()));
  {
    v1::ProberHello hello;
    ASSERT_TRUE(hello.ParseFromString(testing::ReadFixture("prober_hello.pb")));
    auto stub = v1::ConfigService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = stub->Watch(&ctx, hello);
    v1::ProberConfig pc;
    ASSERT_TRUE(reader->Read(&pc)) << collector.Log();
    ASSERT_EQ(pc.checks_size(), 1);
    EXPECT_EQ(pc.checks(0).name(), "shop-tcp");
    ctx.TryCancel();
  }
  collector.Signal(SIGTERM);
  EXPECT_EQ(collector.Wait(std::chrono::seconds(15)), 0) << collector.Log();
}

}  // namespace
}  // namespace sonde
