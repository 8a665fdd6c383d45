#include "collector/api/normalize.h"

#include <gtest/gtest.h>

#include <string>

namespace sonde::collector {
namespace {

using FC = v1::FailureClass;

struct Case {
  const char* name;
  bool ok;
  FC::Code cls;
  bool want_ok;
  FC::Code want_cls;
  bool changed;
};

class NormalizeBatchTest : public ::testing::TestWithParam<Case> {};

TEST_P(NormalizeBatchTest, TheClassDecidesOkAndAnUnsetClassIsAProberError) {
  const Case& c = GetParam();
  v1::ResultBatch batch;
  batch.set_prober_id("p1");
  batch.set_region("fra");
  v1::ProbeResult* r = batch.add_results();
  r->set_prober_id("claimed");
  r->set_region("ams");
  r->set_ok(c.ok);
  r->set_failure_class(c.cls);
  r->set_detail("connect: refused");

  EXPECT_EQ(NormalizeBatch(&batch), c.changed ? 1 : 0);
  EXPECT_EQ(r->ok(), c.want_ok);
  EXPECT_EQ(r->failure_class(), c.want_cls);
  // The stream's identity, whatever the result claimed.
  EXPECT_EQ(r->prober_id(), "p1");
  EXPECT_EQ(r->region(), "fra");
  if (c.cls == FC::UNSPECIFIED) {
    EXPECT_EQ(r->detail(), "probe reported no failure class: connect: refused");
  } else {
    EXPECT_EQ(r->detail(), "connect: refused");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, NormalizeBatchTest,
    ::testing::Values(
        Case{"OkAndOk", true, FC::OK, true, FC::OK, false},
        Case{"FailingClassClaimsOk", true, FC::HTTP_STATUS, false, FC::HTTP_STATUS, true},
        Case{"FailingClassNotOk", false, FC::TCP_REFUSED, false, FC::TCP_REFUSED, false},
        Case{"OkClassClaimsFailure", false, FC::OK, true, FC::OK, true},
        Case{"UnsetClassClaimsOk", true, FC::UNSPECIFIED, false, FC::PROBER_ERROR, true},
        Case{"UnsetClassNotOk", false, FC::UNSPECIFIED, false, FC::PROBER_ERROR, true}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace sonde::collector
