// Store: the collector's PostgreSQL storage, through libpq.
//
// A Store owns one PGconn (closed by its destructor) and is not thread-safe:
// one Store per thread or per stream. StorePool (store_pool.h) hands out
// Stores so that each ingest stream and each query runs on its own
// connection.
//
// The Store is the connection and the batch transaction; each concern it
// runs lives in its own file of this folder: migrations.h (schema),
// partitions.h, copy_rows.h (COPY of the rows), rollups.h,
// status_queries.h (the status page's health read), utf8.h (cleaning),
// civil_time.h, extra_json.h. Beside it: rollup_read.h (the report read,
// on the caller's connection), retention.h (its own thread and connection)
// and migrate_command.h (the `migrate` subcommand).
//
// Schema (see migrations.h): `results` holds one row per probe result,
// range-partitioned by day on `started_at` (UTC) plus a DEFAULT partition,
// so an insert never fails on range; `ingested_batches` is the dedup key
// (prober_id, batch_seq); `rollup_{minute,hour,day}` and their `_class`
// tables are per check x region x bucket counters (partitioned too), so
// availability queries never scan `results`: written by the rollup folder
// about a second after the batch (rollup_folder.h: the collector), or in the
// batch's transaction (a Store without a folder).
//
// Errors: every libpq failure becomes an absl::Status in one place
// (pg::PgError): UNAVAILABLE when the connection is lost (or the server is
// going away), INTERNAL otherwise. After UNAVAILABLE the Store is dead; get
// a new one.
#ifndef SONDE_COLLECTOR_STORAGE_STORE_H_
#define SONDE_COLLECTOR_STORAGE_STORE_H_

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "collector/storage/partitions.h"
#include "collector/storage/pg/pg.h"
#include "collector/storage/status_queries.h"
#include "sonde/v1/collector.pb.h"

namespace sonde::collector {

class RollupFolder;

struct StoreOptions {
  // Results whose UTC day lies in [today - past_days, today + future_days]
  // get a daily partition (created on first use); others go to the DEFAULT
  // partition. The window keeps a prober with a broken clock from creating
  // thousands of partitions.
  int partition_past_days = 35;
  int partition_future_days = 3;
  // When set, a batch's rollups are written after its commit by this folder
  // (rollup_folder.h; it must outlive the Store); when null, in the batch's
  // own transaction.
  RollupFolder* rollup_folder = nullptr;
};

class Store {
 public:
  // Connects. A syntactically bad `conninfo` is INVALID_ARGUMENT; a server
  // that cannot be reached (or refuses us) is UNAVAILABLE. The session runs
  // in UTC.
  static absl::StatusOr<std::unique_ptr<Store>> Connect(const std::string& conninfo,
                                                        StoreOptions options = {});

  // Checks the syntax of a libpq connection string without connecting.
  static absl::Status ValidateConnInfo(const std::string& conninfo);
  // "host=... port=... dbname=... user=..." without the password, for logs.
  static std::string DescribeConnInfo(const std::string& conninfo);

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies the migrations this binary knows and the database lacks, all in
  // one transaction under an advisory lock (several collectors may start at
  // once), then creates the partitions for the coming days. Idempotent.
  absl::Status Migrate();
  // The newest schema version this binary knows.
  static int LatestSchemaVersion();

  // Stores a batch in one transaction (store.cc): the dedup row, one
  // `results` row per result (COPY), and the rollups, or with a rollup
  // folder the row marked unrolled and, after the commit, the batch's
  // rollup delta handed to the folder. The results must be normalised
  // (ingest's NormalizeResult): rows and rollups read `ok` and the class as given. Returns true
  // when (prober_id, batch_seq) was already stored: then nothing is written. On error nothing is
  // written. Rows take prober_id and region from the batch (the stream's identity), not from each
  // result.
  absl::StatusOr<bool> InsertBatch(const v1::ResultBatch& batch);

  // The connection, for read-only report queries (collector/report) by the
  // thread that leased this Store.
  PGconn* connection() { return conn_.get(); }
  // The status page's read (status_queries.h).
  absl::StatusOr<std::vector<ServiceRegionHealth>> RecentHealth(absl::Time since);

  // Runs one SQL command (tests and tooling). Its result rows are discarded.
  absl::Status Execute(const std::string& sql);
  // Runs one query and returns the first column of each row as text (NULL
  // as "<null>"). Meant for tests and diagnostics, not for hot paths.
  absl::StatusOr<std::vector<std::string>> QueryColumn(const std::string& sql);

  // False once the connection is known to be broken.
  bool healthy() const;
  // Like healthy(), but first reads whatever the server sent while the
  // connection sat idle, so a connection the server closed meanwhile (it
  // restarted, or an admin terminated it) is found out here rather than by
  // failing the next batch. Does not block.
  bool CheckIdleConnection();
  // True when no transaction is open (the connection can be reused).
  bool idle() const;
  // The server process id of this connection.
  int backend_pid() const;

 private:
  using PgConnPtr = pg::PgConnPtr;

  Store(PgConnPtr conn, StoreOptions options);

  absl::Status InsertBatchInTransaction(const v1::ResultBatch& batch, bool* duplicate);
  // libpq notice receiver (arg: the Store): logs, and notes a FATAL one.
  static void OnNotice(void* arg, const PGresult* notice);

  PgConnPtr conn_;
  Partitions partitions_;
  RollupFolder* rollup_folder_;
  pg::PreparedStatements prepared_;
  bool server_ended_session_ = false;  // a FATAL notice arrived (OnNotice)
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_STORAGE_STORE_H_
