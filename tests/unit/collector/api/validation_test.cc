// Request validation of the ingest and query services; no database.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "collector/api/ingest_service.h"
#include "collector/api/query_service.h"
#include "collector/storage/store_pool.h"
#include "common/clock.h"
#include "common/config/config.h"

namespace sonde::collector {
namespace {

v1::ResultBatch Batch(const std::string& prober, uint64_t batch_seq, int n) {
  v1::ResultBatch b;
  b.set_prober_id(prober);
  b.set_region("fra");
  b.set_batch_seq(batch_seq);
  for (int i = 0; i < n; ++i) {
    b.add_results()->set_check_id("c");
  }
  return b;
}

TEST(QueryServiceTest, RejectsBadWindowsBeforeTouchingTheDatabase) {
  // The pool would fail to connect; validation must answer first.
  StorePool pool("host=127.0.0.1 port=1 connect_timeout=1");
  common::FakeClock clock;
  QueryService query(&pool, &clock);
  struct Case {
    absl::Duration window;
    grpc::StatusCode want;
  };
  for (const Case& c : {Case{absl::Hours(24 * 401), grpc::StatusCode::INVALID_ARGUMENT},
                        Case{-absl::Seconds(1), grpc::StatusCode::INVALID_ARGUMENT},
                        Case{absl::Hours(1), grpc::StatusCode::UNAVAILABLE}}) {
    v1::AvailabilityRequest req;
    common::FromAbsl(c.window, req.mutable_window());
    v1::AvailabilityReply reply;
    grpc::ServerContext ctx;
    grpc::Status st = query.Availability(&ctx, &req, &reply);
    EXPECT_EQ(st.error_code(), c.want)
        << absl::FormatDuration(c.window) << ": " << st.error_message();
  }
}

TEST(ValidateBatchTest, NamesTheProblem) {
  v1::ResultBatch ok = Batch("p", 1, 2);
  EXPECT_TRUE(ValidateBatch(ok).ok());
  struct Case {
    std::string name;
    void (*mutate)(v1::ResultBatch*);
    std::string message;
  };
  const Case cases[] = {
      {"no prober", [](v1::ResultBatch* b) { b->clear_prober_id(); }, "prober_id is empty"},
      {"no region", [](v1::ResultBatch* b) { b->clear_region(); }, "region is empty"},
      {"no check", [](v1::ResultBatch* b) { b->mutable_results(0)->clear_check_id(); },
       "results[0] has no check_id"},
      {"too many",
       [](v1::ResultBatch* b) {
         for (int i = 0; i < kMaxResultsPerBatch; ++i) {
           *b->add_results() = b->results(0);
         }
       },
       "at most 5000"},
      {"seq overflow", [](v1::ResultBatch* b) { b->set_batch_seq(~0ull); }, "batch_seq"},
      {"long check",
       [](v1::ResultBatch* b) { b->mutable_results(1)->set_check_id(std::string(257, 'c')); },
       "results[1].check_id has 257 bytes"},
      {"long prober", [](v1::ResultBatch* b) { b->set_prober_id(std::string(300, 'p')); },
       "at most 256 bytes"},
  };
  for (const Case& c : cases) {
    v1::ResultBatch b = ok;
    c.mutate(&b);
    absl::Status st = ValidateBatch(b);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << c.name << ": " << st;
    EXPECT_TRUE(absl::StrContains(st.message(), c.message)) << c.name << ": " << st;
  }
}

}  // namespace
}  // namespace sonde::collector
