// `sonde-collector migrate [--dry-run]`: the upgrade step an operator runs
// by hand (or a package's maintainer, before restarting collectors). Lists
// the schema migrations the database lacks and, without --dry-run, applies
// them exactly as a starting collector would (one transaction, advisory
// lock, safe beside running collectors). Runs on the main thread and
// prints to stdout; returns the process exit status.
#ifndef SONDE_COLLECTOR_STORAGE_MIGRATE_COMMAND_H_
#define SONDE_COLLECTOR_STORAGE_MIGRATE_COMMAND_H_

#include <string>

namespace sonde::collector {

// 0 done (or nothing pending), 1 database error or a schema newer than this
// binary knows.
int RunMigrateCommand(const std::string& conninfo, bool dry_run);

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_MIGRATE_COMMAND_H_
