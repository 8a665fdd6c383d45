#include "common/config/storage_config.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"

namespace sonde::common {
namespace {

void Take(bool has, const google::protobuf::Duration& d, absl::Duration* out) {
  if (has) {
    *out = ToDuration(d);
  }
}

void AtLeast(const char* field, absl::Duration v, absl::Duration min, const std::string& why,
             ConfigErrors* e) {
  if (v < min) {
    e->Add("", absl::StrCat("storage.", field),
           absl::StrCat("must be at least ", absl::FormatDuration(min), " (", why, ")"));
  }
}

}  // namespace

StorageSettings EffectiveStorage(const v1::StorageConfig& c) {
  StorageSettings s;
  Take(c.has_raw_retention(), c.raw_retention(), &s.raw);
  Take(c.has_minute_retention(), c.minute_retention(), &s.minute);
  Take(c.has_hour_retention(), c.hour_retention(), &s.hour);
  Take(c.has_day_retention(), c.day_retention(), &s.day);
  Take(c.has_batch_retention(), c.batch_retention(), &s.batches);
  Take(c.has_outbox_retention(), c.outbox_retention(), &s.outbox);
  Take(c.has_timeline_retention(), c.timeline_retention(), &s.timeline);
  Take(c.has_retention_interval(), c.retention_interval(), &s.interval);
  Take(c.has_feed_retention(), c.feed_retention(), &s.feed);
  return s;
}

void ValidateStorage(const v1::StorageConfig& c, ConfigErrors* e) {
  const StorageSettings s = EffectiveStorage(c);
  const std::string late = "results may arrive 2h late";
  AtLeast("raw_retention", s.raw, absl::Hours(24), "raw rows are kept at least a day", e);
  AtLeast("minute_retention", s.minute, kMaxLateness, late, e);
  AtLeast("hour_retention", s.hour, kMaxLateness, late, e);
  AtLeast("day_retention", s.day, kMaxLateness, late, e);
  AtLeast("batch_retention", s.batches, absl::Hours(24),
          "a prober may resend a batch after a long outage", e);
  AtLeast("outbox_retention", s.outbox, absl::Hours(1), "delivered notifications", e);
  AtLeast("timeline_retention", s.timeline, absl::Hours(1), "resolved incidents' timelines", e);
  AtLeast("feed_retention", s.feed, absl::Hours(1),
          "a shard's owner may fall behind the feed for a while", e);
  if (s.hour < s.minute) {
    e->Add("", "storage.hour_retention",
           "must not be shorter than storage.minute_retention (reports fall back from "
           "minutes to hours)");
  }
  if (s.day < s.hour) {
    e->Add("", "storage.day_retention",
           "must not be shorter than storage.hour_retention (reports fall back from "
           "hours to days)");
  }
  if (s.interval < absl::Minutes(1) || s.interval > absl::Hours(24)) {
    e->Add("", "storage.retention_interval", "must be between 1m and 1d");
  }
}

}  // namespace sonde::common
