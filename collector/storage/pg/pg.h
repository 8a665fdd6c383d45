// The collector's lowest PostgreSQL layer, shared by storage/, incidents/
// and notify/: owned result and connection handles, libpq errors converted
// to absl::Status in one place (PgError: every PGresult and PGconn failure
// of the collector goes through it), transactions (InTransaction), prepared
// statements per connection, array literals and timestamps in PostgreSQL's
// text forms. Free functions keep no state; a PreparedStatements belongs to
// one connection. Any thread, but a PGconn is used by one thread at a time.
//
// Bounds (docs/operations.md, "Bounds"): Connect is the one place that sets
// libpq's keywords (connect timeout, TCP keepalives, TCP user timeout) and
// the session's statement_timeout; every statement is sent asynchronously
// and its answer awaited for at most the statement timeout plus
// kAnswerGrace, so a PostgreSQL that stops answering (SIGSTOPped, or a
// network that swallows packets) costs a caller that long, never forever:
// the connection is then dropped and the call answers UNAVAILABLE.
#ifndef SONDE_COLLECTOR_STORAGE_PG_PG_H_
#define SONDE_COLLECTOR_STORAGE_PG_PG_H_

#include <libpq-fe.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/unique_handle.h"

namespace sonde::collector::pg {

using PgResultPtr = common::UniqueHandle<PGresult, PQclear>;
using PgConnPtr = common::UniqueHandle<PGconn, PQfinish>;

// Limits of every collector session, process-wide: main sets them once
// from its flags before the first Connect; tests keep the defaults.
struct SessionLimits {
  // The server cancels a statement running longer (SQLSTATE 57014, read as
  // UNAVAILABLE: try again); the client gives up kAnswerGrace later.
  absl::Duration statement_timeout = absl::Seconds(30);
};
inline constexpr absl::Duration kAnswerGrace = absl::Seconds(5);
inline constexpr int kConnectTimeoutSeconds = 5;
void SetSessionLimits(const SessionLimits& limits);
SessionLimits GetSessionLimits();

// Connects with the collector's libpq keywords (connect_timeout,
// keepalives, tcp_user_timeout, `application_name`; a value `conninfo`
// sets wins; client_encoding is always UTF8), then sets the session to UTC
// and the statement timeout, and switches the connection to non-blocking
// sends. A syntactically bad `conninfo` is INVALID_ARGUMENT; a server that
// cannot be reached within the connect timeout is UNAVAILABLE.
absl::StatusOr<PgConnPtr> Connect(const std::string& conninfo,
                                  const std::string& application_name = "sonde-collector");
// Checks the syntax of a libpq connection string without connecting.
absl::Status ValidateConnInfo(const std::string& conninfo);
// "host=... port=... dbname=... user=..." without the password, for logs.
std::string DescribeConnInfo(const std::string& conninfo);

// libpq's multi-line messages as one line.
std::string OneLine(const char* message);

// UNAVAILABLE when the connection is lost (or the server is going away),
// the session is read-only (SQLSTATE 25006: a standby, or a primary demoted
// under it; Exec, the other statement functions and Pipeline::Finish then
// drop the connection, so its owner connects again and libpq finds the
// primary) or the statement timed out; INVALID_ARGUMENT when the server
// refused the data itself (SQLSTATE class 22: a value out of range, bad
// encoding; the same data fails again); INTERNAL otherwise. The text says
// `what` failed and why (with SQLSTATE).
absl::Status PgError(PGconn* conn, const PGresult* res, absl::string_view what);

// Takes ownership of `raw`; returns it when its status is one of `ok`.
absl::StatusOr<PgResultPtr> Checked(PGconn* conn, PGresult* raw, absl::string_view what,
                                    std::initializer_list<ExecStatusType> ok);
absl::StatusOr<PgResultPtr> Exec(PGconn* conn, const std::string& sql, absl::string_view what);
// Text parameters $1..$n; an empty optional-like value must be passed as
// SQL NULL by the caller's SQL (NULLIF($n, '')).
absl::StatusOr<PgResultPtr> ExecParams(PGconn* conn, const std::string& sql,
                                       const std::vector<std::string>& params,
                                       absl::string_view what);

// Rolls back the open transaction, if any, ignoring errors (the connection
// may be gone).
void RollbackQuietly(PGconn* conn);

// COPY ... FROM STDIN: starts it, sends data (any number of calls), ends it
// (`error` non-null aborts the COPY) and reads its outcome. Each waits at
// most the answer deadline (see above).
absl::Status StartCopyIn(PGconn* conn, const std::string& sql, absl::string_view what);
absl::Status PutCopyData(PGconn* conn, absl::string_view data, absl::string_view what);
absl::Status EndCopyIn(PGconn* conn, const char* error, absl::string_view what);

// Runs `body` between BEGIN and COMMIT on `conn`; when `body` (or the
// COMMIT) fails the transaction is rolled back and the error returned.
// `body` must not close `conn` (drop a lost connection after this returns).
absl::Status InTransaction(PGconn* conn, absl::string_view what,
                           const std::function<absl::Status()>& body);

// A statement prepared once per connection and run by name afterwards.
struct PreparedStatement {
  const char* name;
  const char* sql;
};
// The statements prepared on one connection; owned beside it, same thread.
class PreparedStatements {
 public:
  // Runs `statement` with text `params`, preparing it on first use.
  absl::Status Exec(PGconn* conn, const PreparedStatement& statement,
                    const std::vector<std::string>& params, absl::string_view what);
  // Prepares `statement` unless it already is (one round trip the first
  // time), so that a Pipeline can run it by name.
  absl::Status Prepare(PGconn* conn, const PreparedStatement& statement, absl::string_view what);
  // The same, returning the rows (a statement with RETURNING).
  absl::StatusOr<PgResultPtr> Query(PGconn* conn, const PreparedStatement& statement,
                                    const std::vector<std::string>& params, absl::string_view what);

 private:
  std::set<std::string> prepared_;
};

// Statements sent back to back in libpq's pipeline mode and answered
// together: one round trip for all of them instead of one each. The first
// Add enters pipeline mode (the connection works as usual until then);
// each Add sends at once (libpq copies the parameters); Finish sends the sync,
// reads every answer within the answer deadline (see above) and leaves
// pipeline mode. When a statement fails, PostgreSQL skips the ones after it
// (the open transaction, if any, is then aborted: roll it back). Not for
// COPY. One per connection at a time, on its thread; destroying an
// unfinished one finishes it.
class Pipeline {
 public:
  explicit Pipeline(PGconn* conn);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Queues `sql` with text parameters $1..$n; `what` names it in errors.
  void Add(const std::string& sql, const std::vector<std::string>& params, absl::string_view what);
  // Queues a statement prepared with PreparedStatements::Prepare.
  void AddPrepared(const PreparedStatement& statement, const std::vector<std::string>& params,
                   absl::string_view what);
  // The answers in the order of the Adds, or the first failure.
  absl::StatusOr<std::vector<PgResultPtr>> Finish();

 private:
  // Enters pipeline mode on the first Add; false after a failure.
  bool Ready();
  void Sent(int rc, absl::string_view what);

  PGconn* conn_;
  bool finished_ = false;
  absl::Status error_;              // the first send that failed
  std::vector<std::string> whats_;  // per queued statement
};

// A PostgreSQL array literal in text form: {"a","b\"c"}. Every element is
// quoted, so commas, braces, spaces and the word NULL stay data.
class ArrayLiteral {
 public:
  void Add(absl::string_view element);
  const std::string& Done();

 private:
  std::string text_ = "{";
};
std::string ToArray(const std::vector<std::string>& elements);
// Parses a text[] value as PostgreSQL prints it ({a,"b c"}).
std::vector<std::string> FromArray(absl::string_view text);

// "2026-11-21 09:00:00.000000+00" (timestamptz input); "" for InfinitePast
// or InfiniteFuture (use NULLIF($n,'')::timestamptz).
std::string Timestamp(absl::Time t);
// The SQL expression that reads timestamptz `column` as microseconds since
// the epoch, and the reading of that text ("" = NULL -> InfiniteFuture).
std::string MicrosOf(absl::string_view column);
absl::Time FromMicrosText(absl::string_view text);

}  // namespace sonde::collector::pg

#endif  // SONDE_COLLECTOR_STORAGE_PG_PG_H_
