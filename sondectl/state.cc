#include "sondectl/state.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/proto_time.h"
#include "common/text/safe_text.h"
#include "sondectl/columns.h"
#include "sondectl/report.h"

namespace sonde::sondectl {
namespace {

// Lower is more broken (the collector's order, collector/api/current_status.h).
int Rank(const std::string& state) {
  static constexpr const char* kOrder[] = {"DOWN", "FLAPPING", "DEGRADED", "STALE", "NO_DATA"};
  for (int i = 0; i < static_cast<int>(std::size(kOrder)); ++i) {
    if (state == kOrder[i]) {
      return i;
    }
  }
  return static_cast<int>(std::size(kOrder));
}

std::string Ago(const google::protobuf::Timestamp& t, absl::Time now) {
  if (!common::IsSet(t)) {
    return "-";
  }
  const absl::Duration d = std::max(absl::ZeroDuration(), now - common::ToTime(t));
  return absl::StrCat(absl::FormatDuration(absl::Trunc(d, absl::Seconds(1))), " ago");
}

std::string ClassName(v1::FailureClass::Code c) {
  return c == v1::FailureClass::UNSPECIFIED ? "-" : v1::FailureClass::Code_Name(c);
}

}  // namespace

std::string WorstState(const std::string& a, const std::string& b) {
  return Rank(a) <= Rank(b) ? a : b;
}

std::string FormatStatusTable(const v1::StatusReply& reply, absl::Time now, bool broken_only) {
  if (reply.statuses().empty()) {
    return "no checks\n";
  }
  struct Service {
    std::string state = "UP";
    int rows = 0;
    int broken = 0;
  };
  std::map<std::string, Service> services;
  for (const v1::CheckRegionStatus& s : reply.statuses()) {
    Service& svc = services[s.service()];
    svc.state = WorstState(svc.state, s.state());
    ++svc.rows;
    svc.broken += s.state() != "UP" ? 1 : 0;
  }
  std::vector<std::pair<std::string, Service>> order(services.begin(), services.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return Rank(a.second.state) < Rank(b.second.state);
  });
  std::vector<std::vector<std::string>> head = {{"SERVICE", "STATE", "NOT-UP"}};
  for (const auto& [name, svc] : order) {
    head.push_back(
        {SafeText(name), svc.state, absl::StrCat(svc.broken, " of ", svc.rows, " check x region")});
  }
  std::string out = AlignColumns(head, {});
  out += "\n";
  std::vector<std::vector<std::string>> rows = {
      {"STATE", "SERVICE", "CHECK", "REGION", "LAST-RESULT", "CLASS", "INCIDENTS"}};
  std::vector<std::string> notes = {""};
  int hidden = 0;
  for (const v1::CheckRegionStatus& s : reply.statuses()) {
    if (broken_only && s.state() == "UP" && s.incident_ids().empty()) {
      ++hidden;
      continue;
    }
    rows.push_back(
        {SafeText(s.state()), SafeText(s.service()), SafeText(s.check()), SafeText(s.region()),
         Ago(s.last_result(), now), ClassName(s.failure_class()),
         s.incident_ids().empty() ? "-" : SafeText(absl::StrJoin(s.incident_ids(), ","))});
    std::string note;
    if (s.state() != "UP" && common::IsSet(s.last_failure())) {
      note = absl::StrCat("last failure ", FormatRfc3339(common::ToTime(s.last_failure())), " ",
                          ClassName(s.last_failure_class()),
                          s.last_failure_detail().empty() ? "" : ": ",
                          SafeText(s.last_failure_detail()));
    }
    notes.push_back(note);
  }
  if (rows.size() > 1) {
    out += AlignColumns(rows, notes);
  }
  if (hidden > 0) {
    absl::StrAppend(&out, hidden, " check x region UP, not shown (without --broken: all)\n");
  }
  return out;
}

}  // namespace sonde::sondectl
