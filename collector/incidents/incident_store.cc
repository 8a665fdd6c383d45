#include "collector/incidents/incident_store.h"

#include <map>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "collector/incidents/failing_since.h"
#include "collector/notify/incident_row.h"
#include "collector/notify/outbox.h"
#include "collector/notify/routing.h"
#include "collector/notify/senders/notification.h"
#include "common/proto_time.h"
#include "common/status_macros.h"

namespace sonde::collector {
namespace {

using notify::OutboxWriter;

using detect::IncidentEventKind;
using detect::IncidentKind;
using detect::LatencyPhase;

constexpr LatencyPhase kPhases[] = {LatencyPhase::kNone, LatencyPhase::kDns, LatencyPhase::kConnect,
                                    LatencyPhase::kTls, LatencyPhase::kFirstByte};

std::string Number(double v) { return absl::StrFormat("%.17g", v); }

// The timeline line of a detector event.
std::string EventDetail(const detect::IncidentEvent& e, const v1::Incident& i) {
  const detect::Incident& d = e.incident;
  switch (e.kind) {
    case IncidentEventKind::kOpened:
      return notify::Summary(i);
    case IncidentEventKind::kReclassified:
      return absl::StrCat(detect::IncidentKindName(e.previous_kind), " -> ",
                          detect::IncidentKindName(d.kind), ": ", notify::Summary(i));
    case IncidentEventKind::kRegionsChanged:
      return absl::StrCat("regions now ",
                          d.regions.empty() ? "none" : absl::StrJoin(d.regions, ", "));
    case IncidentEventKind::kProgress:
      return absl::StrCat(d.recovered_targets, " of ", d.affected_targets,
                          d.kind == IncidentKind::kProtocolOutage ? " hosts" : " checks",
                          " recovered");
    case IncidentEventKind::kUpdated:
      return notify::Summary(i);
    case IncidentEventKind::kResolved:
      return absl::StrCat("resolved after ", absl::FormatDuration(absl::Trunc(
                                                 d.resolved_at - d.opened_at, absl::Seconds(1))));
  }
  return "";
}

const char* NotificationEvent(IncidentEventKind kind) {
  switch (kind) {
    case IncidentEventKind::kOpened:
      return notify::kOpened;
    case IncidentEventKind::kReclassified:
      return notify::kReclassified;
    case IncidentEventKind::kRegionsChanged:
      return notify::kRegionsChanged;
    case IncidentEventKind::kResolved:
      return notify::kResolved;
    default:
      return nullptr;  // UPDATED, PROGRESS: timeline only
  }
}

// Which notification wins when one batch holds several for an incident.
int Rank(const char* event) {
  if (event == notify::kOpened) {
    return 3;
  }
  if (event == notify::kResolved) {
    return 2;
  }
  if (event == notify::kReclassified) {
    return 1;
  }
  return 0;
}

}  // namespace

v1::Incident ToProto(const detect::Incident& d) {
  v1::Incident i;
  i.set_id(d.id);
  i.set_kind(detect::IncidentKindName(d.kind));
  i.set_severity(detect::SeverityName(d.severity));
  i.set_service(d.service);
  for (const std::string& s : d.checks) {
    i.add_checks(s);
  }
  for (const std::string& s : d.regions) {
    i.add_regions(s);
  }
  for (const std::string& s : d.hosts) {
    i.add_hosts(s);
  }
  i.set_protocol(d.protocol);
  i.set_failure_class(d.dominant_class);
  i.set_failing_share(d.failing_share);
  i.set_latency_phase(detect::LatencyPhaseName(d.latency_phase));
  i.set_latency_p95_ms(absl::ToDoubleMilliseconds(d.latency_p95));
  i.set_latency_baseline_p95_ms(absl::ToDoubleMilliseconds(d.latency_baseline_p95));
  i.set_affected_targets(d.affected_targets);
  i.set_recovered_targets(d.recovered_targets);
  i.set_evidence(d.evidence);
  common::SetTimestamp(d.opened_at, i.mutable_opened_at());
  common::SetTimestamp(d.updated_at, i.mutable_updated_at());
  if (d.resolved) {
    common::SetTimestamp(d.resolved_at, i.mutable_resolved_at());
  }
  i.set_status(d.resolved ? "resolved" : "open");
  return i;
}

detect::Incident FromProto(const v1::Incident& i) {
  detect::Incident d;
  d.id = i.id();
  if (std::optional<IncidentKind> k = detect::IncidentKindNamed(i.kind())) {
    d.kind = *k;
  }
  d.severity = i.severity() == "TICKET" ? detect::Severity::kTicket : detect::Severity::kPage;
  d.service = i.service();
  d.checks.assign(i.checks().begin(), i.checks().end());
  d.regions.assign(i.regions().begin(), i.regions().end());
  d.hosts.assign(i.hosts().begin(), i.hosts().end());
  d.protocol = i.protocol();
  d.dominant_class = i.failure_class();
  d.failing_share = i.failing_share();
  for (LatencyPhase p : kPhases) {
    if (i.latency_phase() == detect::LatencyPhaseName(p)) {
      d.latency_phase = p;
    }
  }
  d.latency_p95 = absl::Milliseconds(i.latency_p95_ms());
  d.latency_baseline_p95 = absl::Milliseconds(i.latency_baseline_p95_ms());
  d.affected_targets = i.affected_targets();
  d.recovered_targets = i.recovered_targets();
  d.evidence = i.evidence();
  d.opened_at = common::ToTime(i.opened_at());
  d.updated_at = common::ToTime(i.updated_at());
  d.resolved = i.has_resolved_at();
  d.resolved_at = d.resolved ? common::ToTime(i.resolved_at()) : absl::InfiniteFuture();
  return d;
}

IncidentStore::IncidentStore(std::string conninfo) : conninfo_(std::move(conninfo)) {}

absl::StatusOr<PGconn*> IncidentStore::Conn() {
  if (conn_ != nullptr && PQstatus(conn_.get()) != CONNECTION_OK) {
    conn_.reset();
  }
  if (conn_ == nullptr) {
    ASSIGN_OR_RETURN(conn_, pg::Connect(conninfo_, "sonde-incidents"));
  }
  return conn_.get();
}

template <typename T>
T IncidentStore::Watch(T result) {
  absl::Status s;
  if constexpr (std::is_same_v<T, absl::Status>) {
    s = result;
  } else {
    s = result.status();
  }
  if (absl::IsUnavailable(s)) {
    conn_.reset();
  }
  return result;
}

absl::Status IncidentStore::Record(const std::vector<detect::IncidentEvent>& events,
                                   const v1::Config& config, absl::Time now,
                                   const cluster::LeaseFence* fence, absl::Time recorded_until) {
  if (events.empty()) {
    return absl::OkStatus();
  }
  auto conn = Conn();
  if (!conn.ok()) {
    return conn.status();
  }
  return Watch(pg::InTransaction(*conn, "incident transaction", [&]() -> absl::Status {
    OutboxWriter outbox(*conn, fence);
    RETURN_IF_ERROR(outbox.Fence());  // the first statement (docs/ha.md, "Fencing")
    std::map<std::string, Pending> pending;
    for (const detect::IncidentEvent& e : events) {
      RETURN_IF_ERROR(RecordOne(e, config, &outbox, &pending));
    }
    RETURN_IF_ERROR(QueueNotifications(pending, config, now, &outbox));
    if (fence == nullptr) {
      return absl::OkStatus();
    }
    return cluster::ShardLeases().MarkRecorded(*conn, fence->owner,
                                               {{fence->shard, fence->epoch, recorded_until}});
  }));
}

absl::Status IncidentStore::RecordOne(const detect::IncidentEvent& e, const v1::Config& config,
                                      OutboxWriter* outbox,
                                      std::map<std::string, Pending>* pending) {
  PGconn* c = conn_.get();
  v1::Incident i = ToProto(e.incident);
  const v1::MaintenanceWindow* maintenance = notify::ActiveMaintenance(config, i, e.at);
  i.set_in_maintenance(maintenance != nullptr);
  static const char* const kUpsert =
      "INSERT INTO incidents (id, kind, severity, service, checks, regions, hosts, protocol,"
      " failure_class, failing_share, latency_phase, latency_p95_ms, latency_baseline_p95_ms,"
      " affected_targets, recovered_targets, evidence, opened_at, updated_at, resolved_at,"
      " in_maintenance, lease_epoch)"
      " VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7::text[], $8, $9, $10, $11, $12, $13,"
      " $14, $15, $16, $17::timestamptz, $18::timestamptz, NULLIF($19, '')::timestamptz, $20,"
      " NULLIF($21, '')::bigint)"
      // The row keeps the incident's whole scope (every check, region and
      // host it ever covered: "10 hosts in 3 regions" after it resolved);
      // the timeline has the regions of each moment.
      " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, severity = excluded.severity,"
      " checks = ARRAY(SELECT DISTINCT unnest(incidents.checks || excluded.checks) ORDER BY 1),"
      " regions = ARRAY(SELECT DISTINCT unnest(incidents.regions || excluded.regions) ORDER BY 1),"
      " hosts = ARRAY(SELECT DISTINCT unnest(incidents.hosts || excluded.hosts) ORDER BY 1),"
      " protocol = excluded.protocol, failure_class = excluded.failure_class,"
      " failing_share = excluded.failing_share, latency_phase = excluded.latency_phase,"
      " latency_p95_ms = excluded.latency_p95_ms,"
      " latency_baseline_p95_ms = excluded.latency_baseline_p95_ms,"
      " affected_targets = excluded.affected_targets,"
      " recovered_targets = excluded.recovered_targets,"
      // The resolution keeps the evidence of the failure.
      " evidence = CASE WHEN excluded.resolved_at IS NULL THEN excluded.evidence"
      "  ELSE incidents.evidence END,"
      " updated_at = excluded.updated_at, resolved_at = excluded.resolved_at,"
      // Sticky: the Dispatcher clears it (and pages) when no window covers
      // the incident any more.
      " in_maintenance = incidents.in_maintenance OR excluded.in_maintenance,"
      " lease_epoch = excluded.lease_epoch"
      " RETURNING (extract(epoch from acknowledged_at) * 1000000)::bigint,"
      " coalesce(acknowledged_by, ''), in_maintenance, checks, regions, hosts, evidence";
  const detect::Incident& d = e.incident;
  ASSIGN_OR_RETURN(pg::PgResultPtr res,
                   pg::ExecParams(c, kUpsert,
                                  {i.id(),
                                   i.kind(),
                                   i.severity(),
                                   i.service(),
                                   pg::ToArray(d.checks),
                                   pg::ToArray(d.regions),
                                   pg::ToArray(d.hosts),
                                   i.protocol(),
                                   v1::FailureClass::Code_Name(i.failure_class()),
                                   Number(i.failing_share()),
                                   i.latency_phase(),
                                   Number(i.latency_p95_ms()),
                                   Number(i.latency_baseline_p95_ms()),
                                   absl::StrCat(i.affected_targets()),
                                   absl::StrCat(i.recovered_targets()),
                                   i.evidence(),
                                   pg::Timestamp(d.opened_at),
                                   pg::Timestamp(d.updated_at),
                                   d.resolved ? pg::Timestamp(d.resolved_at) : "",
                                   maintenance != nullptr ? "t" : "f",
                                   outbox->epoch_param()},
                                  absl::StrCat("store incident ", i.id())));
  bool silenced = maintenance != nullptr;
  if (PQntuples(res.get()) == 1) {
    const PGresult* r = res.get();
    if (!PQgetisnull(r, 0, 0)) {
      common::SetTimestamp(pg::FromMicrosText(PQgetvalue(r, 0, 0)), i.mutable_acknowledged_at());
      i.set_acknowledged_by(PQgetvalue(r, 0, 1));
    }
    silenced = PQgetvalue(r, 0, 2)[0] == 't';
    i.set_in_maintenance(silenced);
    if (d.resolved) {  // the resolved notice names the whole scope
      i.clear_checks();
      i.clear_regions();
      i.clear_hosts();
      for (std::string& v : pg::FromArray(PQgetvalue(r, 0, 3))) {
        i.add_checks(std::move(v));
      }
      for (std::string& v : pg::FromArray(PQgetvalue(r, 0, 4))) {
        i.add_regions(std::move(v));
      }
      for (std::string& v : pg::FromArray(PQgetvalue(r, 0, 5))) {
        i.add_hosts(std::move(v));
      }
      i.set_evidence(PQgetvalue(r, 0, 6));
    }
  }

  if (e.kind == IncidentEventKind::kOpened) {
    RETURN_IF_ERROR(RecordFailingSince(c, i.id(), d.checks, d.regions, d.opened_at));
  }

  RETURN_IF_ERROR(outbox->AddEvent(i, d.regions, e.at, detect::IncidentEventKindName(e.kind),
                                   EventDetail(e, i)));

  const char* notification = NotificationEvent(e.kind);
  if (notification == nullptr) {
    return absl::OkStatus();
  }
  if (silenced) {
    return outbox->AddSilenced(i, d.regions, e.at, maintenance, notification);
  }
  // One notification per incident and batch of events: REGIONAL -> GLOBAL
  // and the regions joining a second apart are one page, not four. The
  // strongest event names it, the newest snapshot fills it.
  Pending& p = (*pending)[i.id()];
  if (p.event == nullptr) {
    p.kind_before = e.kind == IncidentEventKind::kReclassified
                        ? detect::IncidentKindName(e.previous_kind)
                        : i.kind();
  }
  if (p.event == nullptr || Rank(notification) > Rank(p.event)) {
    p.event = notification;
  }
  p.regions_changed |= e.kind == IncidentEventKind::kRegionsChanged;
  p.incident = std::move(i);
  return absl::OkStatus();
}

absl::Status IncidentStore::QueueNotifications(const std::map<std::string, Pending>& pending,
                                               const v1::Config& config, absl::Time now,
                                               OutboxWriter* outbox) {
  for (const auto& [id, p] : pending) {
    const char* event = p.event;
    // GLOBAL -> REGIONAL -> GLOBAL within one batch (regions re-confirming
    // one by one, e.g. after a restart) is no change of kind to page about.
    if (event == notify::kReclassified && p.incident.kind() == p.kind_before) {
      if (!p.regions_changed) {
        continue;
      }
      event = notify::kRegionsChanged;
    }
    RETURN_IF_ERROR(outbox->Page(config, p.incident, event, now).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<detect::Incident>> IncidentStore::LoadOpen() {
  ASSIGN_OR_RETURN(std::vector<v1::Incident> open, List(false, absl::InfiniteFuture(), ""));
  std::vector<detect::Incident> out;
  out.reserve(open.size());
  for (const v1::Incident& i : open) {
    out.push_back(FromProto(i));
  }
  return out;
}

absl::StatusOr<std::vector<v1::Incident>> IncidentStore::List(bool include_resolved,
                                                              absl::Time since,
                                                              const std::string& service) {
  ASSIGN_OR_RETURN(PGconn * c, Conn());
  std::string sql = absl::StrCat("SELECT ", notify::kIncidentColumns,
                                 " FROM incidents i WHERE ($1 = '' OR i.service = $1) AND"
                                 " (i.resolved_at IS NULL");
  std::vector<std::string> params = {service};
  if (include_resolved) {
    absl::StrAppend(&sql, " OR i.resolved_at >= $2::timestamptz");
    params.push_back(pg::Timestamp(since));
  }
  absl::StrAppend(&sql, ") ORDER BY i.opened_at DESC, i.id LIMIT 1000");
  auto res = Watch(pg::ExecParams(c, sql, params, "list incidents"));
  if (!res.ok()) {
    return res.status();
  }
  std::vector<v1::Incident> out;
  for (int row = 0; row < PQntuples(res->get()); ++row) {
    out.push_back(notify::IncidentFromRow(res->get(), row));
  }
  return out;
}

absl::StatusOr<v1::Incident> IncidentStore::Get(const std::string& id) {
  ASSIGN_OR_RETURN(PGconn * c, Conn());
  auto res = Watch(pg::ExecParams(
      c, absl::StrCat("SELECT ", notify::kIncidentColumns, " FROM incidents i WHERE i.id = $1"),
      {id}, "read incident"));
  if (!res.ok()) {
    return res.status();
  }
  if (PQntuples(res->get()) != 1) {
    return absl::NotFoundError(absl::StrCat("no incident \"", id, "\""));
  }
  return notify::IncidentFromRow(res->get(), 0);
}

absl::StatusOr<v1::TimelineReply> IncidentStore::Timeline(const std::string& id) {
  v1::TimelineReply reply;
  ASSIGN_OR_RETURN(*reply.mutable_incident(), Get(id));
  auto res = Watch(pg::ExecParams(
      conn_.get(),
      absl::StrCat("SELECT ", pg::MicrosOf("at"),
                   ", kind, incident_kind, regions, affected_targets, recovered_targets,"
                   " failing_share, detail FROM incident_events WHERE incident_id = $1"
                   " ORDER BY at, id"),
      {id}, "read incident timeline"));
  if (!res.ok()) {
    return res.status();
  }
  const PGresult* r = res->get();
  for (int row = 0; row < PQntuples(r); ++row) {
    v1::IncidentEvent* e = reply.add_events();
    common::SetTimestamp(pg::FromMicrosText(PQgetvalue(r, row, 0)), e->mutable_at());
    e->set_kind(PQgetvalue(r, row, 1));
    e->set_incident_kind(PQgetvalue(r, row, 2));
    for (std::string& s : pg::FromArray(PQgetvalue(r, row, 3))) {
      e->add_regions(std::move(s));
    }
    int n = 0;
    double share = 0;
    (void)absl::SimpleAtoi(PQgetvalue(r, row, 4), &n);
    e->set_affected_targets(n);
    (void)absl::SimpleAtoi(PQgetvalue(r, row, 5), &n);
    e->set_recovered_targets(n);
    (void)absl::SimpleAtod(PQgetvalue(r, row, 6), &share);
    e->set_failing_share(share);
    e->set_detail(PQgetvalue(r, row, 7));
  }
  return reply;
}

absl::StatusOr<v1::AcknowledgeReply> IncidentStore::Acknowledge(const std::string& id,
                                                                const std::string& by,
                                                                const std::string& comment,
                                                                absl::Time now) {
  ASSIGN_OR_RETURN(PGconn * c, Conn());
  std::string detail = absl::StrCat("acknowledged by ", by);
  if (!comment.empty()) {
    absl::StrAppend(&detail, ": ", comment);
  }
  // The row update and its timeline line commit together.
  bool acknowledged = false;
  RETURN_IF_ERROR(Watch(pg::InTransaction(c, "acknowledgement", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(
        pg::PgResultPtr res,
        pg::ExecParams(c,
                       "UPDATE incidents SET acknowledged_at = $2::timestamptz,"
                       " acknowledged_by = $3 WHERE id = $1 AND acknowledged_at IS NULL"
                       " RETURNING id",
                       {id, pg::Timestamp(now), by}, "acknowledge incident"));
    acknowledged = PQntuples(res.get()) == 1;
    if (!acknowledged) {
      return absl::OkStatus();
    }
    return OutboxWriter(c).AddEventFromRow(id, now, "ACKNOWLEDGED", detail);
  })));
  v1::AcknowledgeReply reply;
  reply.set_already_acknowledged(!acknowledged);
  ASSIGN_OR_RETURN(*reply.mutable_incident(), Get(id));
  return reply;
}

absl::StatusOr<v1::PostUpdateReply> IncidentStore::PostUpdate(const std::string& id,
                                                              const std::string& message,
                                                              absl::Time now) {
  ASSIGN_OR_RETURN(PGconn * c, Conn());
  auto added = Watch(OutboxWriter(c).AddUpdate(id, now, message));
  if (!added.ok()) {
    return added.status();
  }
  if (!*added) {
    return absl::NotFoundError(absl::StrCat("no incident \"", id, "\""));
  }
  v1::PostUpdateReply reply;
  ASSIGN_OR_RETURN(*reply.mutable_incident(), Get(id));
  v1::IncidentEvent* e = reply.mutable_event();
  common::SetTimestamp(now, e->mutable_at());
  e->set_kind("UPDATE");
  e->set_incident_kind(reply.incident().kind());
  *e->mutable_regions() = reply.incident().regions();
  e->set_affected_targets(reply.incident().affected_targets());
  e->set_recovered_targets(reply.incident().recovered_targets());
  e->set_failing_share(reply.incident().failing_share());
  e->set_detail(message);
  return reply;
}

}  // namespace sonde::collector
