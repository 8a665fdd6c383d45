#include "collector/storage/pg/pg.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sonde::collector::pg {
namespace {

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

}  // namespace

absl::StatusOr<PgConnPtr> Connect(const std::string& conninfo,
                                  const std::string& application_name) {
  // Defaults first: a value in conninfo (expanded from "dbname") wins; libpq
  // ignores an empty value.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", application_name.c_str(), conninfo.c_str(), nullptr};
  PgConnPtr conn(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL: ",
                     conn == nullptr ? "out of memory" : OneLine(PQerrorMessage(conn.get()))));
  }
  auto set = Exec(conn.get(), "SET TIME ZONE 'UTC'", "set time zone");
  if (!set.ok()) {
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
  return Checked(conn, PQexec(conn, sql.c_str()), what, {PGRES_COMMAND_OK, PGRES_TUPLES_OK});
}

absl::StatusOr<PgResultPtr> ExecParams(PGconn* conn, const std::string& sql,
                                       const std::vector<std::string>& params,
                                       absl::string_view what) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) {
    values.push_back(p.c_str());
  }
  return Checked(conn,
                 PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, /*resultFormat=*/0),
                 what, {PGRES_COMMAND_OK, PGRES_TUPLES_OK});
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
    PgResultPtr res(PQexec(conn, "ROLLBACK"));
  }
}

absl::Status PreparedStatements::Exec(PGconn* conn, const PreparedStatement& statement,
                                      const std::vector<std::string>& params,
                                      absl::string_view what) {
  if (prepared_.count(statement.name) == 0) {
    absl::Status prepared =
        Checked(conn, PQprepare(conn, statement.name, statement.sql, 0, nullptr),
                absl::StrCat("prepare ", what), {PGRES_COMMAND_OK})
            .status();
    if (!prepared.ok()) {
      return prepared;
    }
    prepared_.insert(statement.name);
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& v : params) {
    values.push_back(v.c_str());
  }
  return Checked(conn,
                 PQexecPrepared(conn, statement.name, static_cast<int>(values.size()),
                                values.data(), nullptr, nullptr, /*resultFormat=*/0),
                 what, {PGRES_COMMAND_OK, PGRES_TUPLES_OK})
      .status();
}

void ArrayLiteral::Add(absl::string_view element) {
  if (text_.size() > 1) {
    text_.push_back(',');
  }
  text_.push_back('"');
  for (char c : element) {
    if (c == '"' || c == '\\') {
      text_.push_back('\\');
    }
    text_.push_back(c);
  }
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
