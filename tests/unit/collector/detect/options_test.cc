// detect::WithConfig: the `detection:` block of the config over the
// detector's defaults. Set fields replace, unset ones keep the default.
#include "collector/detect/options.h"

#include <gtest/gtest.h>

#include "google/protobuf/text_format.h"

namespace sonde::detect {
namespace {

v1::DetectionConfig Parse(const char* text) {
  v1::DetectionConfig c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &c)) << text;
  return c;
}

TEST(WithConfigTest, SetFieldsReplaceTheDefaults) {
  const DetectorOptions defaults;
  DetectorOptions o = WithConfig(defaults, Parse(R"pb(
                                   reorder_window { seconds: 3 }
                                   down_failures: 4
                                   down_window: 6
                                   up_successes: 5
                                   prober_fault_share: 0.6
                                   partial_window { seconds: 600 }
                                   partial_share: 0.2
                                   partial_min_probes: 12
                                   dns_share: 0.9
                                   latency_factor: 2.5
                                   latency_margin { nanos: 400000000 }
                                   latency_min_samples: 20
                                   flap_enter_percent: 40
                                   flap_exit_percent: 25
                                   reclassify_after { seconds: 60 }
                                   resolve_hold { seconds: 300 }
                                 )pb"));
  EXPECT_EQ(o.reorder_window, absl::Seconds(3));
  EXPECT_EQ(o.down_failures, 4);
  EXPECT_EQ(o.down_window, 6);
  EXPECT_EQ(o.up_successes, 5);
  EXPECT_DOUBLE_EQ(o.prober_fault_share, 0.6);
  EXPECT_EQ(o.partial_window, absl::Minutes(10));
  EXPECT_DOUBLE_EQ(o.partial_share, 0.2);
  EXPECT_EQ(o.partial_min_probes, 12);
  EXPECT_DOUBLE_EQ(o.dns_share, 0.9);
  EXPECT_DOUBLE_EQ(o.latency_factor, 2.5);
  EXPECT_EQ(o.latency_margin, absl::Milliseconds(400));
  EXPECT_EQ(o.latency_min_samples, 20);
  EXPECT_DOUBLE_EQ(o.flap_enter_percent, 40);
  EXPECT_DOUBLE_EQ(o.flap_exit_percent, 25);
  EXPECT_EQ(o.reclassify_after, absl::Minutes(1));
  EXPECT_EQ(o.resolve_hold, absl::Minutes(5));

  // Not in the block: unchanged.
  EXPECT_EQ(o.stale_intervals, defaults.stale_intervals);
  EXPECT_EQ(o.partial_fast_window, defaults.partial_fast_window);
  EXPECT_DOUBLE_EQ(o.partial_fast_share, defaults.partial_fast_share);
  EXPECT_EQ(o.latency_window, defaults.latency_window);
  EXPECT_EQ(o.flap_sample_period, defaults.flap_sample_period);
  EXPECT_EQ(o.prober_fault_hold, defaults.prober_fault_hold);
}

TEST(WithConfigTest, AnEmptyBlockKeepsEveryDefault) {
  DetectorOptions base;
  base.down_failures = 7;  // WithConfig starts from what it is given
  const DetectorOptions o = WithConfig(base, v1::DetectionConfig());
  EXPECT_EQ(o.down_failures, 7);
  EXPECT_EQ(o.reorder_window, base.reorder_window);
  EXPECT_EQ(o.resolve_hold, base.resolve_hold);
  EXPECT_DOUBLE_EQ(o.partial_share, base.partial_share);
  EXPECT_TRUE(WithConfig({}, v1::DetectionConfig()).Validate().ok());
}

TEST(WithConfigTest, TheResultIsValidated) {
  // WithConfig copies; Validate (run by the collector at start) refuses
  // combinations the detector cannot hold.
  EXPECT_TRUE(WithConfig({}, Parse("down_failures: 2 down_window: 3")).Validate().ok());
  EXPECT_FALSE(WithConfig({}, Parse("down_failures: 5 down_window: 3")).Validate().ok());
}

}  // namespace
}  // namespace sonde::detect
