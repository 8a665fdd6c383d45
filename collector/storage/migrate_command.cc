#include "collector/storage/migrate_command.h"

#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "collector/storage/migrations.h"
#include "collector/storage/store.h"

namespace sonde::collector {
namespace {

absl::StatusOr<std::set<int>> AppliedVersions(Store* store) {
  absl::StatusOr<std::vector<std::string>> exists =
      store->QueryColumn("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists.ok()) {
    return exists.status();
  }
  std::set<int> applied;
  if (exists->empty() || (*exists)[0] != "t") {
    return applied;  // an empty database
  }
  absl::StatusOr<std::vector<std::string>> rows =
      store->QueryColumn("SELECT version FROM schema_migrations");
  if (!rows.ok()) {
    return rows.status();
  }
  for (const std::string& r : *rows) {
    int v = 0;
    if (absl::SimpleAtoi(r, &v)) {
      applied.insert(v);
    }
  }
  return applied;
}

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "sonde-collector migrate: %s\n", std::string(st.message()).c_str());
  return 1;
}

}  // namespace

int RunMigrateCommand(const std::string& conninfo, bool dry_run) {
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Connect(conninfo);
  if (!store.ok()) {
    return Fail(store.status());
  }
  absl::StatusOr<std::set<int>> applied = AppliedVersions(store->get());
  if (!applied.ok()) {
    return Fail(applied.status());
  }
  const int current = applied->empty() ? 0 : *applied->rbegin();
  if (absl::Status st = CheckSchemaNotNewer(current); !st.ok()) {
    return Fail(st);
  }
  std::vector<MigrationInfo> pending;
  for (const MigrationInfo& m : KnownMigrations()) {
    if (applied->count(m.version) == 0) {
      pending.push_back(m);
    }
  }
  std::printf("schema version %d; this collector knows %d; %zu pending\n", current,
              Store::LatestSchemaVersion(), pending.size());
  for (const MigrationInfo& m : pending) {
    std::printf("%s %d %s\n", dry_run ? "pending" : "applying", m.version, m.description.c_str());
  }
  if (dry_run || pending.empty()) {
    return 0;
  }
  if (absl::Status st = (*store)->Migrate(); !st.ok()) {
    return Fail(st);
  }
  std::printf("schema version %d\n", Store::LatestSchemaVersion());
  return 0;
}

}  // namespace sonde::collector
