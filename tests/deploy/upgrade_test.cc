// Schema upgrades: `sonde-collector migrate --dry-run` lists what an empty
// database lacks and changes nothing, `migrate` applies it (then nothing is
// pending), and a database migrated by a newer collector is refused by both
// `migrate` and the daemon (exit 1, nothing written).
#include <libpq-fe.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
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
  std::string v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0
                      ? PQgetvalue(r, 0, 0)
                      : "<error>";
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

}  // namespace
}  // namespace sonde
