#include "collector/storage/pg/pg.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace sonde::collector::pg {
namespace {

using ConnInfoPtr = common::UniqueHandle<PQconninfoOption, PQconninfoFree>;

std::atomic<int64_t> statement_timeout_ms{30'000};

// SQLSTATE classes that mean the session is gone or going: 08 connection
// exception, 57P01..57P05 admin/crash shutdown, cannot connect now.
bool IsConnectionLoss(PGconn* conn, const char* sqlstate) {
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    return true;
  }
  if (sqlstate == nullptr) {
    return false;
  }
  return absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "57P");
}

// 25006 read_only_sql_transaction: the session cannot write. Every
// collector session writes, so such a session is useless: it landed on a
// standby (a connection string without target_session_attrs=read-write)
// or on a server that turned read-only under it. It is treated as lost,
// so its owner reconnects, and libpq's multi-host connect finds the primary.
bool IsReadOnly(const char* sqlstate) {
  return sqlstate != nullptr && absl::string_view(sqlstate) == "25006";
}

bool IsReadOnly(const PGresult* res) {
  return res != nullptr && IsReadOnly(PQresultErrorField(res, PG_DIAG_SQLSTATE));
}

absl::Duration AnswerWait() { return GetSessionLimits().statement_timeout + kAnswerGrace; }

// Waits until `conn`'s socket is ready for `events`; false when `deadline`
// passed first. A broken socket counts as ready: libpq then reports it.
bool WaitSocket(PGconn* conn, short events, absl::Time deadline) {
  const int fd = PQsocket(conn);
  if (fd < 0) {
    return true;
  }
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return false;
    }
    pollfd p{fd, events, 0};
    const int64_t ms = std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, INT_MAX);
    const int rc = poll(&p, 1, static_cast<int>(ms));
    if (rc > 0 || (rc < 0 && errno != EINTR)) {
      return true;
    }
  }
}

// Shuts the socket so that libpq marks the connection bad: every owner
// drops a connection that is not CONNECTION_OK and connects anew.
void MarkBad(PGconn* conn) {
  shutdown(PQsocket(conn), SHUT_RDWR);
  PQconsumeInput(conn);
}

// The server did not answer in time: drop the connection and say so.
absl::Status Abandon(PGconn* conn, absl::string_view what) {
  MarkBad(conn);
  return absl::UnavailableError(absl::StrCat(
      "PostgreSQL did not answer (", what, ") within ", absl::FormatDuration(AnswerWait()),
      " (statement timeout ", absl::FormatDuration(GetSessionLimits().statement_timeout), " + ",
      absl::FormatDuration(kAnswerGrace), "); the connection was dropped"));
}

// Sends what libpq still buffers (non-blocking connection).
absl::Status FlushOut(PGconn* conn, absl::Time deadline, absl::string_view what) {
  while (true) {
    const int f = PQflush(conn);
    if (f == 0) {
      return absl::OkStatus();
    }
    if (f < 0) {
      return PgError(conn, nullptr, what);
    }
    if (!WaitSocket(conn, POLLOUT | POLLIN, deadline)) {
      return Abandon(conn, what);
    }
    if (PQconsumeInput(conn) == 0) {
      return PgError(conn, nullptr, what);
    }
  }
}

// Reads from the server until libpq holds a whole result (PQgetResult will
// not block).
absl::Status AwaitResult(PGconn* conn, absl::Time deadline, absl::string_view what) {
  while (PQisBusy(conn) != 0) {
    if (!WaitSocket(conn, POLLIN, deadline)) {
      return Abandon(conn, what);
    }
    if (PQconsumeInput(conn) == 0) {
      return PgError(conn, nullptr, what);
    }
  }
  return absl::OkStatus();
}

// Waits for the outcome of the command sent last: every result is read (so
// the connection is usable afterwards); the first failure, else the last
// result, is returned. A COPY result is returned at once (the command then
// waits for data).
absl::StatusOr<PgResultPtr> Collect(PGconn* conn, absl::Time deadline, absl::string_view what,
                                    std::initializer_list<ExecStatusType> ok) {
  if (absl::Status flushed = FlushOut(conn, deadline, what); !flushed.ok()) {
    return flushed;
  }
  absl::Status error;
  PgResultPtr last;
  bool read_only = false;
  while (true) {
    if (absl::Status ready = AwaitResult(conn, deadline, what); !ready.ok()) {
      return ready;
    }
    PGresult* raw = PQgetResult(conn);
    if (raw == nullptr) {
      break;
    }
    const ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
      return Checked(conn, raw, what, ok);
    }
    read_only = read_only || IsReadOnly(raw);
    absl::StatusOr<PgResultPtr> checked = Checked(conn, raw, what, ok);
    if (!checked.ok()) {
      if (error.ok()) {
        error = checked.status();
      }
    } else {
      last = *std::move(checked);
    }
  }
  if (read_only) {
    MarkBad(conn);  // after every result was read: the error text stays intact
  }
  if (!error.ok()) {
    return error;
  }
  if (last == nullptr) {
    return PgError(conn, nullptr, what);
  }
  return last;
}

// Sends one command with `send` (a PQsend* call) and awaits its outcome.
template <typename Send>
absl::StatusOr<PgResultPtr> Run(PGconn* conn, absl::string_view what,
                                std::initializer_list<ExecStatusType> ok, Send send) {
  if (send() != 1) {
    return PgError(conn, nullptr, what);
  }
  return Collect(conn, absl::Now() + AnswerWait(), what, ok);
}

std::vector<const char*> CStrings(const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) {
    values.push_back(p.c_str());
  }
  return values;
}

}  // namespace

void SetSessionLimits(const SessionLimits& limits) {
  statement_timeout_ms.store(absl::ToInt64Milliseconds(limits.statement_timeout));
}

SessionLimits GetSessionLimits() {
  return SessionLimits{absl::Milliseconds(statement_timeout_ms.load())};
}

absl::Status ValidateConnInfo(const std::string& conninfo) {
  char* err = nullptr;
  ConnInfoPtr opts(PQconninfoParse(conninfo.c_str(), &err));
  if (opts == nullptr) {
    std::string message = err != nullptr ? OneLine(err) : "out of memory";
    PQfreemem(err);
    return absl::InvalidArgumentError(absl::StrCat("bad PostgreSQL connection string: ", message));
  }
  return absl::OkStatus();
}

std::string DescribeConnInfo(const std::string& conninfo) {
  char* err = nullptr;
  ConnInfoPtr opts(PQconninfoParse(conninfo.c_str(), &err));
  PQfreemem(err);
  if (opts == nullptr) {
    return "(unparsable connection string)";
  }
  std::vector<std::string> parts;
  for (PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') {
      continue;
    }
    std::string key = o->keyword;
    if (key == "host" || key == "hostaddr" || key == "port" || key == "dbname" || key == "user") {
      parts.push_back(absl::StrCat(key, "=", o->val));
    }
  }
  if (parts.empty()) {
    return "(libpq defaults)";
  }
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<PgConnPtr> Connect(const std::string& conninfo,
                                  const std::string& application_name) {
  if (absl::Status valid = ValidateConnInfo(conninfo); !valid.ok()) {
    return valid;
  }
  // The one set of libpq keywords of the collector. Those before "dbname"
  // are defaults the connection string may override (libpq ignores an empty
  // value); those after it are forced. Keepalives find a peer that vanished
  // (idle 30 s, then 3 probes 10 s apart); tcp_user_timeout bounds how long
  // sent data may stay unacknowledged.
  const std::string connect_timeout = absl::StrCat(kConnectTimeoutSeconds);
  const char* keys[] = {"application_name",    "connect_timeout",
                        "keepalives",          "keepalives_idle",
                        "keepalives_interval", "keepalives_count",
                        "tcp_user_timeout",    "dbname",
                        "client_encoding",     nullptr};
  const char* values[] = {application_name.c_str(),
                          connect_timeout.c_str(),
                          "1",
                          "30",
                          "10",
                          "3",
                          "30000",
                          conninfo.c_str(),
                          "UTF8",
                          nullptr};
  PgConnPtr conn(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (conn == nullptr) {
    return absl::ResourceExhaustedError("libpq: out of memory");
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL (",
                                               DescribeConnInfo(conninfo),
                                               "): ", OneLine(PQerrorMessage(conn.get()))));
  }
  if (PQsetnonblocking(conn.get(), 1) != 0) {
    return PgError(conn.get(), nullptr, "switch to non-blocking sends");
  }
  const std::string session =
      absl::StrCat("SET TIME ZONE 'UTC'; SET statement_timeout = ",
                   absl::ToInt64Milliseconds(GetSessionLimits().statement_timeout));
  if (auto set = Exec(conn.get(), session, "set up the session"); !set.ok()) {
    return set.status();
  }
  return conn;
}

// libpq's messages span lines ("...refused\n\tIs the server running...");
// logs and gRPC statuses want one.
std::string OneLine(const char* message) {
  std::string out;
  bool space = false;
  for (const char* p = message; *p != '\0'; ++p) {
    if (absl::ascii_isspace(static_cast<unsigned char>(*p))) {
      space = !out.empty();
      continue;
    }
    if (space) {
      out.push_back(' ');
    }
    space = false;
    out.push_back(*p);
  }
  return out;
}

absl::Status PgError(PGconn* conn, const PGresult* res, absl::string_view what) {
  const char* sqlstate = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = res != nullptr ? OneLine(PQresultErrorMessage(res)) : "";
  if (message.empty() && conn != nullptr) {
    message = OneLine(PQerrorMessage(conn));
  }
  if (message.empty()) {
    message = "unknown libpq error";
  }
  std::string text = absl::StrCat(what, ": ", message);
  if (sqlstate != nullptr) {
    absl::StrAppend(&text, " (SQLSTATE ", sqlstate, ")");
  }
  if (IsConnectionLoss(conn, sqlstate)) {
    return absl::UnavailableError(absl::StrCat("PostgreSQL connection lost: ", text));
  }
  if (IsReadOnly(sqlstate)) {
    return absl::UnavailableError(absl::StrCat(
        "PostgreSQL session is read-only (a standby or a demoted primary; the connection is "
        "dropped and made again, add target_session_attrs=read-write to the connection string): ",
        text));
  }
  if (sqlstate != nullptr && absl::string_view(sqlstate) == "57014") {
    return absl::UnavailableError(absl::StrCat("PostgreSQL statement timeout: ", text));
  }
  if (sqlstate != nullptr && absl::StartsWith(sqlstate, "22")) {
    return absl::InvalidArgumentError(absl::StrCat("PostgreSQL refused the data: ", text));
  }
  return absl::InternalError(text);
}

absl::StatusOr<PgResultPtr> Checked(PGconn* conn, PGresult* raw, absl::string_view what,
                                    std::initializer_list<ExecStatusType> ok) {
  PgResultPtr res(raw);
  if (res != nullptr) {
    ExecStatusType st = PQresultStatus(res.get());
    if (std::find(ok.begin(), ok.end(), st) != ok.end()) {
      return res;
    }
  }
  return PgError(conn, res.get(), what);
}

absl::StatusOr<PgResultPtr> Exec(PGconn* conn, const std::string& sql, absl::string_view what) {
  return Run(conn, what, {PGRES_COMMAND_OK, PGRES_TUPLES_OK},
             [&] { return PQsendQuery(conn, sql.c_str()); });
}

absl::StatusOr<PgResultPtr> ExecParams(PGconn* conn, const std::string& sql,
                                       const std::vector<std::string>& params,
                                       absl::string_view what) {
  const std::vector<const char*> values = CStrings(params);
  return Run(conn, what, {PGRES_COMMAND_OK, PGRES_TUPLES_OK}, [&] {
    return PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, /*resultFormat=*/0);
  });
}

absl::Status InTransaction(PGconn* conn, absl::string_view what,
                           const std::function<absl::Status()>& body) {
  absl::Status status = Exec(conn, "BEGIN", absl::StrCat("begin ", what)).status();
  if (status.ok()) {
    status = body();
  }
  if (status.ok()) {
    status = Exec(conn, "COMMIT", absl::StrCat("commit ", what)).status();
  }
  if (!status.ok()) {
    RollbackQuietly(conn);
  }
  return status;
}

void RollbackQuietly(PGconn* conn) {
  if (conn != nullptr && PQstatus(conn) == CONNECTION_OK &&
      PQtransactionStatus(conn) != PQTRANS_IDLE) {
    Exec(conn, "ROLLBACK", "roll back").IgnoreError();
  }
}

absl::Status StartCopyIn(PGconn* conn, const std::string& sql, absl::string_view what) {
  return Run(conn, what, {PGRES_COPY_IN}, [&] { return PQsendQuery(conn, sql.c_str()); }).status();
}

absl::Status PutCopyData(PGconn* conn, absl::string_view data, absl::string_view what) {
  const absl::Time deadline = absl::Now() + AnswerWait();
  while (true) {
    const int put = PQputCopyData(conn, data.data(), static_cast<int>(data.size()));
    if (put == 1) {
      return absl::OkStatus();
    }
    if (put < 0) {
      return PgError(conn, nullptr, what);
    }
    // Non-blocking and libpq's buffer is full: send it, then retry.
    if (absl::Status flushed = FlushOut(conn, deadline, what); !flushed.ok()) {
      return flushed;
    }
  }
}

absl::Status EndCopyIn(PGconn* conn, const char* error, absl::string_view what) {
  const absl::Time deadline = absl::Now() + AnswerWait();
  while (true) {
    const int end = PQputCopyEnd(conn, error);
    if (end == 1) {
      break;
    }
    if (end < 0) {
      return PgError(conn, nullptr, what);
    }
    if (absl::Status flushed = FlushOut(conn, deadline, what); !flushed.ok()) {
      return flushed;
    }
  }
  return Collect(conn, deadline, what, {PGRES_COMMAND_OK}).status();
}

absl::Status PreparedStatements::Exec(PGconn* conn, const PreparedStatement& statement,
                                      const std::vector<std::string>& params,
                                      absl::string_view what) {
  return Query(conn, statement, params, what).status();
}

absl::StatusOr<PgResultPtr> PreparedStatements::Query(PGconn* conn,
                                                      const PreparedStatement& statement,
                                                      const std::vector<std::string>& params,
                                                      absl::string_view what) {
  if (prepared_.count(statement.name) == 0) {
    absl::Status prepared = Run(conn, absl::StrCat("prepare ", what), {PGRES_COMMAND_OK}, [&] {
                              return PQsendPrepare(conn, statement.name, statement.sql, 0, nullptr);
                            }).status();
    if (!prepared.ok()) {
      return prepared;
    }
    prepared_.insert(statement.name);
  }
  const std::vector<const char*> values = CStrings(params);
  return Run(conn, what, {PGRES_COMMAND_OK, PGRES_TUPLES_OK}, [&] {
    return PQsendQueryPrepared(conn, statement.name, static_cast<int>(values.size()), values.data(),
                               nullptr, nullptr, /*resultFormat=*/0);
  });
}

absl::Status PreparedStatements::Prepare(PGconn* conn, const PreparedStatement& statement,
                                         absl::string_view what) {
  if (prepared_.count(statement.name) > 0) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(Run(conn, absl::StrCat("prepare ", what), {PGRES_COMMAND_OK}, [&] {
                    return PQsendPrepare(conn, statement.name, statement.sql, 0, nullptr);
                  }).status());
  prepared_.insert(statement.name);
  return absl::OkStatus();
}

Pipeline::Pipeline(PGconn* conn) : conn_(conn) {}

bool Pipeline::Ready() {
  if (error_.ok() && PQpipelineStatus(conn_) == PQ_PIPELINE_OFF &&
      PQenterPipelineMode(conn_) != 1) {
    error_ = PgError(conn_, nullptr, "enter pipeline mode");
  }
  return error_.ok();
}

Pipeline::~Pipeline() {
  if (!finished_) {
    Finish().IgnoreError();
  }
}

void Pipeline::Sent(int rc, absl::string_view what) {
  whats_.emplace_back(what);
  if (rc != 1 && error_.ok()) {
    error_ = PgError(conn_, nullptr, what);
  }
}

void Pipeline::Add(const std::string& sql, const std::vector<std::string>& params,
                   absl::string_view what) {
  if (!Ready()) {
    return;
  }
  const std::vector<const char*> values = CStrings(params);
  Sent(PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                         values.data(), nullptr, nullptr, /*resultFormat=*/0),
       what);
}

void Pipeline::AddPrepared(const PreparedStatement& statement,
                           const std::vector<std::string>& params, absl::string_view what) {
  if (!Ready()) {
    return;
  }
  const std::vector<const char*> values = CStrings(params);
  Sent(PQsendQueryPrepared(conn_, statement.name, static_cast<int>(values.size()), values.data(),
                           nullptr, nullptr, /*resultFormat=*/0),
       what);
}

absl::StatusOr<std::vector<PgResultPtr>> Pipeline::Finish() {
  finished_ = true;
  if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF) {
    if (!error_.ok()) {
      return error_;
    }
    return std::vector<PgResultPtr>();  // nothing was queued
  }
  const absl::Time deadline = absl::Now() + AnswerWait();
  const std::string what =
      whats_.empty() ? std::string("pipeline") : absl::StrCat(whats_.front(), " (pipeline)");
  if (PQpipelineSync(conn_) != 1) {
    return PgError(conn_, nullptr, what);
  }
  RETURN_IF_ERROR(FlushOut(conn_, deadline, what));
  // Every statement's answer is one result and a NULL; the sync's is
  // PGRES_PIPELINE_SYNC. All are read, so the connection can leave
  // pipeline mode whatever failed.
  std::vector<PgResultPtr> results;
  absl::Status failed = error_;
  bool read_only = false;
  size_t index = 0;
  while (true) {
    RETURN_IF_ERROR(AwaitResult(conn_, deadline, what));
    PGresult* raw = PQgetResult(conn_);
    if (raw == nullptr) {
      ++index;  // the end of one statement's answer
      continue;
    }
    PgResultPtr res(raw);
    const ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_PIPELINE_SYNC) {
      break;
    }
    const absl::string_view step = index < whats_.size() ? whats_[index] : what;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      results.push_back(std::move(res));
    } else if (st != PGRES_PIPELINE_ABORTED && failed.ok()) {
      read_only = IsReadOnly(raw);
      failed = PgError(conn_, raw, step);
    }
  }
  if (PQexitPipelineMode(conn_) != 1 && failed.ok()) {
    failed = PgError(conn_, nullptr, what);
  }
  if (read_only) {
    MarkBad(conn_);  // as in Collect: a session that cannot write is dropped
  }
  if (!failed.ok()) {
    return failed;
  }
  if (results.size() != whats_.size()) {
    return absl::InternalError(
        absl::StrCat(what, ": ", results.size(), " answers to ", whats_.size(), " statements"));
  }
  return results;
}

void ArrayLiteral::Add(absl::string_view element) {
  if (text_.size() > 1) {
    text_.push_back(',');
  }
  text_.push_back('"');
  // Runs without a quote or backslash are appended whole.
  size_t plain = 0;
  for (size_t i = 0; i < element.size(); ++i) {
    if (element[i] == '"' || element[i] == '\\') {
      text_.append(element.data() + plain, i - plain);
      text_.push_back('\\');
      plain = i;  // the character itself starts the next run
    }
  }
  text_.append(element.data() + plain, element.size() - plain);
  text_.push_back('"');
}

const std::string& ArrayLiteral::Done() {
  text_.push_back('}');
  return text_;
}

std::string ToArray(const std::vector<std::string>& elements) {
  ArrayLiteral a;
  for (const std::string& e : elements) {
    a.Add(e);
  }
  return a.Done();
}

std::vector<std::string> FromArray(absl::string_view text) {
  std::vector<std::string> out;
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
    return out;
  }
  text = text.substr(1, text.size() - 2);
  size_t i = 0;
  while (i < text.size()) {
    std::string element;
    if (text[i] == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
          ++i;
        }
        element.push_back(text[i]);
      }
      ++i;  // closing quote
    } else {
      for (; i < text.size() && text[i] != ','; ++i) {
        element.push_back(text[i]);
      }
    }
    out.push_back(std::move(element));
    ++i;  // comma
  }
  return out;
}

std::string Timestamp(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) {
    return "";
  }
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

std::string MicrosOf(absl::string_view column) {
  return absl::StrCat("(extract(epoch from ", column, ") * 1000000)::bigint");
}

absl::Time FromMicrosText(absl::string_view text) {
  int64_t micros = 0;
  if (text.empty() || !absl::SimpleAtoi(text, &micros)) {
    return absl::InfiniteFuture();
  }
  return absl::FromUnixMicros(micros);
}

}  // namespace sonde::collector::pg
