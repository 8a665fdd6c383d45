#include "collector/cluster/members.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace sonde::collector::cluster {
namespace {

using pg::ExecParams;
using pg::PgResultPtr;

// $1 replica, $2 address, $3 software, $4 config version, $5 first beat of
// this run (started_at is reset then), $6 cluster mode.
constexpr char kUpsertMember[] =
    "INSERT INTO collector_members (replica_id, address, software, config_version, started_at,"
    " last_seen, cluster_mode) VALUES ($1, $2, $3, $4, clock_timestamp(), clock_timestamp(),"
    " $6::boolean)"
    " ON CONFLICT (replica_id) DO UPDATE SET address = EXCLUDED.address,"
    " software = EXCLUDED.software, config_version = EXCLUDED.config_version,"
    " cluster_mode = EXCLUDED.cluster_mode,"
    " last_seen = clock_timestamp(),"
    " started_at = CASE WHEN $5::boolean THEN clock_timestamp()"
    " ELSE collector_members.started_at END";

std::string Seconds(absl::Duration d) { return absl::StrCat(absl::ToDoubleSeconds(d), " seconds"); }

}  // namespace

v1::CollectorsReply CollectorsReplyFrom(const ClusterView& view, const std::string& answered_by) {
  v1::CollectorsReply out;
  out.set_answered_by(answered_by);
  if (!view.known) {
    return out;
  }
  common::SetTimestamp(view.as_of, out.mutable_as_of());
  out.set_recorded_config_version(view.recorded_version);
  out.set_recorded_by(view.recorded_by);
  out.set_notify_scheduler(view.notify_scheduler);
  if (!view.recorded_version.empty()) {
    common::SetTimestamp(view.recorded_at, out.mutable_recorded_at());
  }
  for (const MemberRow& r : view.members) {
    v1::CollectorMember* m = out.add_members();
    m->set_replica_id(r.replica_id);
    m->set_address(r.address);
    m->set_software_version(r.software);
    m->set_config_version(r.config_version);
    common::SetTimestamp(r.started_at, m->mutable_started_at());
    common::SetTimestamp(r.last_seen, m->mutable_last_seen());
    m->set_live(r.live);
    m->set_in_step(!r.config_version.empty() && r.config_version == view.recorded_version);
    for (int s : r.shards) {
      m->add_shards(s);
    }
  }
  return out;
}

MemberHeartbeat::MemberHeartbeat(std::string conninfo, absl::Duration every, absl::Duration ttl)
    : conninfo_(std::move(conninfo)), every_(every), ttl_(ttl) {}

void MemberHeartbeat::SetIdentity(MemberIdentity identity) {
  absl::MutexLock l(&mu_);
  identity_ = std::move(identity);
}

MemberIdentity MemberHeartbeat::identity() const {
  absl::MutexLock l(&mu_);
  return identity_;
}

void MemberHeartbeat::SetConfigVersion(const std::string& version, bool reloaded) {
  absl::MutexLock l(&mu_);
  if (version == config_version_) {
    return;
  }
  config_version_ = version;
  reloaded_ = reloaded;
}

absl::Status MemberHeartbeat::Beat(PGconn* c, ClusterView* view) {
  bool reloaded = false;
  MemberIdentity me;
  {
    absl::MutexLock l(&mu_);
    view->config_version = config_version_;
    reloaded = reloaded_;
    me = identity_;
  }
  const std::string& mine = view->config_version;
  RETURN_IF_ERROR(ExecParams(c, kUpsertMember,
                             {me.replica_id, me.address, me.software, mine,
                              first_beat_ ? "true" : "false", me.cluster_mode ? "true" : "false"},
                             "record this collector replica")
                      .status());
  if (!mine.empty()) {
    // One row, locked for the decision: two replicas reloading at once
    // decide one after the other (the later one's version is recorded).
    RETURN_IF_ERROR(ExecParams(c,
                               "INSERT INTO cluster_config (id, version, recorded_by)"
                               " VALUES (true, $1, $2) ON CONFLICT (id) DO NOTHING",
                               {mine, me.replica_id}, "record the first config version")
                        .status());
  }
  ASSIGN_OR_RETURN(
      PgResultPtr rec,
      pg::Exec(c,
               absl::StrCat("SELECT version, recorded_by, ", pg::MicrosOf("recorded_at"),
                            " FROM cluster_config", mine.empty() ? "" : " FOR UPDATE"),
               "read the recorded config version"));
  if (PQntuples(rec.get()) == 1) {
    view->recorded_version = PQgetvalue(rec.get(), 0, 0);
    view->recorded_by = PQgetvalue(rec.get(), 0, 1);
    view->recorded_at = pg::FromMicrosText(PQgetvalue(rec.get(), 0, 2));
  }
  AgreementInput in;
  in.mine = mine;
  in.recorded = view->recorded_version;
  in.reloaded = reloaded;
  if (!mine.empty() && mine != in.recorded) {
    ASSIGN_OR_RETURN(PgResultPtr live,
                     ExecParams(c,
                                "SELECT count(*) FROM collector_members WHERE replica_id <> $1"
                                " AND config_version = $2"
                                " AND last_seen > clock_timestamp() - $3::interval",
                                {me.replica_id, in.recorded, Seconds(ttl_)},
                                "count the replicas on the recorded config"));
    in.recorded_live = std::string(PQgetvalue(live.get(), 0, 0)) != "0";
  }
  view->agreement = Decide(in);
  if (view->agreement == Agreement::kRecordMine) {
    ASSIGN_OR_RETURN(PgResultPtr set,
                     ExecParams(c,
                                "UPDATE cluster_config SET version = $1, recorded_by = $2,"
                                " recorded_at = clock_timestamp() RETURNING " +
                                    pg::MicrosOf("recorded_at"),
                                {mine, me.replica_id}, "record this config version"));
    view->recorded_version = mine;
    view->recorded_by = me.replica_id;
    view->recorded_at = pg::FromMicrosText(PQgetvalue(set.get(), 0, 0));
  }
  RETURN_IF_ERROR(pg::Exec(c,
                           "DELETE FROM collector_members"
                           " WHERE last_seen < clock_timestamp() - interval '1 day'",
                           "forget replicas unseen for a day")
                      .status());
  ASSIGN_OR_RETURN(
      PgResultPtr rows,
      ExecParams(c,
                 absl::StrCat("SELECT replica_id, address, software, config_version, ",
                              pg::MicrosOf("started_at"), ", ", pg::MicrosOf("last_seen"),
                              ", last_seen > clock_timestamp() - $1::interval, ",
                              pg::MicrosOf("clock_timestamp()"),
                              ", cluster_mode FROM collector_members ORDER BY replica_id"),
                 {Seconds(ttl_)}, "read the collector replicas"));
  for (int i = 0; i < PQntuples(rows.get()); ++i) {
    MemberRow m;
    m.replica_id = PQgetvalue(rows.get(), i, 0);
    m.address = PQgetvalue(rows.get(), i, 1);
    m.software = PQgetvalue(rows.get(), i, 2);
    m.config_version = PQgetvalue(rows.get(), i, 3);
    m.started_at = pg::FromMicrosText(PQgetvalue(rows.get(), i, 4));
    m.last_seen = pg::FromMicrosText(PQgetvalue(rows.get(), i, 5));
    m.live = std::string(PQgetvalue(rows.get(), i, 6)) == "t";
    view->as_of = pg::FromMicrosText(PQgetvalue(rows.get(), i, 7));
    m.cluster_mode = std::string(PQgetvalue(rows.get(), i, 8)) == "t";
    view->members.push_back(std::move(m));
  }
  // Who holds which lease now (sondectl status --collectors).
  ASSIGN_OR_RETURN(PgResultPtr leases,
                   pg::Exec(c,
                            "SELECT shard, owner FROM shard_leases"
                            " WHERE expires_at > clock_timestamp() ORDER BY shard",
                            "read the running shard leases"));
  for (int i = 0; i < PQntuples(leases.get()); ++i) {
    const int shard = std::atoi(PQgetvalue(leases.get(), i, 0));
    const std::string owner = PQgetvalue(leases.get(), i, 1);
    if (shard < 0) {
      view->notify_scheduler = owner;
      continue;
    }
    for (MemberRow& m : view->members) {
      if (m.replica_id == owner) {
        m.shards.push_back(shard);
      }
    }
  }
  view->known = true;
  return absl::OkStatus();
}

absl::Status MemberHeartbeat::BeatOnce() {
  if (conn_ == nullptr || PQstatus(conn_.get()) != CONNECTION_OK) {
    absl::StatusOr<pg::PgConnPtr> c = pg::Connect(conninfo_, "sonde-collector-members");
    if (!c.ok()) {
      failures_++;
      return c.status();
    }
    conn_ = *std::move(c);
  }
  ClusterView view;
  absl::Status st = pg::InTransaction(conn_.get(), "collector heartbeat",
                                      [&] { return Beat(conn_.get(), &view); });
  if (!st.ok()) {
    failures_++;
    return st;
  }
  beats_++;
  first_beat_ = false;
  absl::MutexLock l(&mu_);
  if (view.config_version == config_version_) {
    reloaded_ = false;  // a reload since the beat began waits for the next one
  }
  if (view.agreement == Agreement::kRecordMine) {
    recorded_++;
    spdlog::info("config version {} recorded for every collector replica", view.config_version);
  } else if (view.agreement == Agreement::kOutOfStep && view_.agreement != Agreement::kOutOfStep) {
    spdlog::warn(
        "config version {} differs from {} that the replicas run (recorded by {}): this replica "
        "takes no part in detection until its config matches (docs/ha.md)",
        view.config_version, view.recorded_version, view.recorded_by);
  }
  view_ = std::move(view);
  return absl::OkStatus();
}

void MemberHeartbeat::Start() {
  loop_.Start([this] {
    if (absl::Status st = BeatOnce(); !st.ok()) {
      spdlog::warn("collector heartbeat failed (retried in {}): {}", absl::FormatDuration(every_),
                   std::string(st.message()));
    }
    return every_;
  });
}

void MemberHeartbeat::Stop() { loop_.Stop(); }

ClusterView MemberHeartbeat::View() const {
  absl::MutexLock l(&mu_);
  return view_;
}

void MemberHeartbeat::AppendMetrics(common::MetricsText* m) const {
  ClusterView view = View();
  std::string version, replica;
  {
    absl::MutexLock l(&mu_);
    version = config_version_;
    replica = identity_.replica_id;
  }
  m->Family("sonde_config_version_info", "gauge",
            "The version of the Sonde config this collector replica runs (value 1; empty "
            "without --config).");
  m->Sample("sonde_config_version_info",
            absl::StrCat(common::Label("replica", replica), ",", common::Label("version", version)),
            1);
  m->Add("sonde_cluster_config_in_step", "gauge",
         "1 while this replica's config version is the one recorded in PostgreSQL for every "
         "replica (docs/ha.md); 0 when it differs, without --config, or before the first beat.",
         view.known &&
                 (view.agreement == Agreement::kInStep || view.agreement == Agreement::kRecordMine)
             ? 1
             : 0);
  int live = 0;
  for (const MemberRow& r : view.members) {
    live += r.live ? 1 : 0;
  }
  m->Add("sonde_cluster_members_live", "gauge",
         "Collector replicas seen within 10 s by the database clock, at the last heartbeat.", live);
  m->Add("sonde_cluster_heartbeats_total", "counter", "Heartbeats this replica committed.",
         beats_.load(std::memory_order_relaxed));
  m->Add("sonde_cluster_heartbeat_failures_total", "counter",
         "Heartbeats that failed (PostgreSQL away); retried every 2 s.",
         failures_.load(std::memory_order_relaxed));
  m->Add("sonde_cluster_config_recorded_total", "counter",
         "Times this replica recorded its config version for every replica.",
         recorded_.load(std::memory_order_relaxed));
}

}  // namespace sonde::collector::cluster
