#include "common/html/status_page_model.h"

namespace sonde::html {
namespace {

struct StateText {
  const char* name;
  const char* label;
  const char* color;
};

// Indexed by ServiceState.
constexpr StateText kStates[] = {
    {"operational", "Operational", "#2e9d57"},
    {"maintenance", "Under maintenance", "#3b7dd8"},
    {"degraded", "Degraded performance", "#d9a400"},
    {"partial_outage", "Partial outage", "#e8750c"},
    {"major_outage", "Major outage", "#d0342c"},
};

const StateText& Of(ServiceState state) {
  const auto i = static_cast<size_t>(state);
  return i < sizeof(kStates) / sizeof(kStates[0]) ? kStates[i] : kStates[0];
}

}  // namespace

const char* StateName(ServiceState state) { return Of(state).name; }
const char* StateLabel(ServiceState state) { return Of(state).label; }
const char* StateColor(ServiceState state) { return Of(state).color; }

const ServiceView* FindService(const StatusPageModel& model, const std::string& service) {
  for (const GroupView& g : model.groups) {
    for (const ServiceView& s : g.services) {
      if (s.service == service) {
        return &s;
      }
    }
  }
  return nullptr;
}

}  // namespace sonde::html
