// sonde-detect-partial-sweep: how the detector names a partial failure at
// the shipped detection defaults, over many random draws on a FakeClock.
//
// Three regions, two checks of one service; from minute 20 a share of one
// check's requests fail (HTTP 503) at random for 15 minutes. Per interval
// and requests per run it prints a Markdown row: the mean time until an
// incident shows PARTIAL_FAILURE, the incidents opened for the draws, how
// many ended as an outage, how many showed an outage first, the first and
// the last share reported. docs/detection.md quotes its table.
//
//   ninja sonde-detect-partial-sweep
//   build/bin/sonde-detect-partial-sweep [--share 0.25] [--draws 40]
//
// Not a test: it asserts nothing, it measures (the scenario tests assert).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "tests/unit/collector/detect/stream.h"

namespace sonde::detect::testing {
namespace {

struct Row {
  int draws = 0;
  int shown = 0;  // draws where PARTIAL_FAILURE showed
  double shown_s = 0;
  int incidents = 0;
  int ended_as_outage = 0;
  int outage_first = 0;
  double first_share = 0;
  double last_share = 0;
  int last_shares = 0;
};

bool IsOutage(IncidentKind k) {
  return k == IncidentKind::kGlobalOutage || k == IncidentKind::kRegionalOutage;
}

void Draw(absl::Duration interval, uint32_t requests, double share, uint64_t draw, Row* row) {
  StreamDriver d(
      Fleet({HttpCheck("login", "svc", "https://svc.example.com/login", interval, requests),
             HttpCheck("root", "svc", "https://svc.example.com/", interval, requests)}),
      DetectorOptions{});
  const absl::Time fault = T0() + absl::Minutes(20);
  const absl::Time end = fault + absl::Minutes(15);
  d.set_behavior([&](const RunContext& c, Outcome* o) {
    const double u =
        static_cast<double>(Mix(c.hash ^ (draw * 0x9e3779b97f4a7c15ULL)) >> 11) * 0x1.0p-53;
    if (c.check_name == "login" && c.start >= fault && u < share) {
      o->cls = v1::FailureClass::HTTP_STATUS;
      o->http_status = 503;
      o->detail = "HTTP 503";
    }
  });
  d.RunUntil(end);
  ++row->draws;
  bool first = true;
  bool shown = false;
  std::map<std::string, IncidentKind> last_kind;
  std::map<std::string, double> last_share;
  for (const TimedEvent& e : d.events()) {
    const IncidentKind k = e.event.incident.kind;
    if (!InfoOf(k).availability) {
      continue;
    }
    last_kind[e.event.incident_id] = k;
    if (first) {
      row->outage_first += IsOutage(k) ? 1 : 0;
      first = false;
    }
    if (k == IncidentKind::kPartialFailure) {
      if (!shown) {
        shown = true;
        ++row->shown;
        row->shown_s += absl::ToDoubleSeconds(e.tick - fault);
        row->first_share += e.event.incident.failing_share;
      }
      last_share[e.event.incident_id] = e.event.incident.failing_share;
    }
  }
  row->incidents += static_cast<int>(last_kind.size());
  for (const auto& [id, kind] : last_kind) {
    if (IsOutage(kind)) {
      ++row->ended_as_outage;
    } else if (last_share.count(id) > 0) {
      row->last_share += last_share[id];
      ++row->last_shares;
    }
  }
}

int Main(int argc, char** argv) {
  double share = 0.25;
  int draws = 40;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--share") == 0) {
      share = std::atof(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--draws") == 0) {
      draws = std::max(1, std::atoi(argv[i + 1]));
    } else {
      std::fprintf(stderr, "usage: %s [--share 0.25] [--draws 40]\n", argv[0]);
      return 2;
    }
  }
  std::printf("%.0f%% of one check's requests failing, %d draws of 15 minutes each\n\n",
              share * 100, draws);
  std::printf(
      "| interval, requests | time to PARTIAL_FAILURE (mean) | incidents | ended as outage | "
      "outage first | first share | last share |\n| --- | --- | --- | --- | --- | --- | --- |\n");
  for (uint32_t requests : {1u, 3u}) {
    for (int seconds : {2, 5, 10, 30}) {
      Row row;
      for (int draw = 1; draw <= draws; ++draw) {
        Draw(absl::Seconds(seconds), requests, share, static_cast<uint64_t>(draw), &row);
      }
      std::printf("| %d s, %u | %.0f s (%d of %d) | %d | %d | %d | %.3f | %.3f |\n", seconds,
                  requests, row.shown > 0 ? row.shown_s / row.shown : 0.0, row.shown, row.draws,
                  row.incidents, row.ended_as_outage, row.outage_first,
                  row.shown > 0 ? row.first_share / row.shown : 0.0,
                  row.last_shares > 0 ? row.last_share / row.last_shares : 0.0);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace sonde::detect::testing

int main(int argc, char** argv) { return sonde::detect::testing::Main(argc, argv); }
