// IngestService and QueryService over real gRPC (in-process server on a
// loopback port) and a real PostgreSQL.
#include "collector/api/ingest_service.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "collector/api/query_service.h"
#include "collector/detect/detector.h"
#include "collector/storage/store_pool.h"
#include "common/clock.h"
#include "common/config/config.h"
#include "grpcpp/grpcpp.h"
#include "tests/testing/postgres_fixture.h"

namespace sonde::collector {
namespace {

const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new sonde::testing::PostgresEnvironment);

using FC = v1::FailureClass;

v1::ResultBatch Batch(const std::string& prober, uint64_t batch_seq, int n, absl::Time t) {
  v1::ResultBatch b;
  b.set_prober_id(prober);
  b.set_region("fra");
  b.set_batch_seq(batch_seq);
  for (int i = 0; i < n; ++i) {
    v1::ProbeResult* r = b.add_results();
    r->set_check_id("ingest-check");
    r->set_service("svc");
    r->set_seq(batch_seq * 1000 + i);
    r->mutable_start_time()->set_seconds(absl::ToUnixSeconds(t));
    r->set_ok(i != 0);
    r->set_failure_class(i != 0 ? FC::OK : FC::HTTP_STATUS);
  }
  return b;
}

// A collector's gRPC surface on 127.0.0.1:<free port>, with `conninfo`.
class Server {
 public:
  Server(const std::string& conninfo, const common::Clock* clock,
         IngestService::CommitHook on_committed = nullptr)
      : pool_(conninfo), ingest_(&pool_), query_(&pool_, clock) {
    ingest_.set_on_committed(std::move(on_committed));
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&ingest_);
    builder.RegisterService(&query_);
    server_ = builder.BuildAndStart();
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials());
  }
  ~Server() { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1)); }

  bool started() const { return server_ != nullptr && port_ != 0; }
  std::unique_ptr<v1::Ingest::Stub> IngestStub() { return v1::Ingest::NewStub(channel_); }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  std::unique_ptr<v1::Query::Stub> QueryStub() { return v1::Query::NewStub(channel_); }
  const IngestCounters& counters() const { return ingest_.counters(); }
  StorePool& pool() { return pool_; }
  void StartDraining() { ingest_.StartDraining(); }

 private:
  StorePool pool_;
  IngestService ingest_;
  QueryService query_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
}

class IngestServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string& conninfo = sonde::testing::PostgresEnvironment::conninfo();
    ASSERT_FALSE(conninfo.empty()) << "no PostgreSQL";
    auto store = Store::Connect(conninfo);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->Migrate().ok());
    server_ = std::make_unique<Server>(conninfo, &clock_);
    ASSERT_TRUE(server_->started());
  }

  std::string Count(const std::string& sql) {
    auto rows = store_->QueryColumn(sql);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() && rows->size() == 1 ? (*rows)[0] : "?";
  }

  common::FakeClock clock_{absl::Now()};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Server> server_;
};

TEST_F(IngestServiceTest, AcksAfterStoringAndAcksDuplicatesWithoutStoring) {
  auto stub = server_->IngestStub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub->Report(&ctx);
  const absl::Time t = absl::Now() - absl::Minutes(1);

  ASSERT_TRUE(stream->Write(Batch("p-ingest", 1, 3, t)));
  v1::Ack ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_seq(), 1u);
  EXPECT_FALSE(ack.duplicate());
  // Acked means committed: visible from another connection right away.
  EXPECT_EQ(Count("SELECT count(*) FROM results WHERE prober_id = 'p-ingest'"), "3");

  ASSERT_TRUE(stream->Write(Batch("p-ingest", 1, 3, t)));  // resent
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_seq(), 1u);
  EXPECT_TRUE(ack.duplicate());
  ASSERT_TRUE(stream->Write(Batch("p-ingest", 2, 2, t)));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_seq(), 2u);
  EXPECT_FALSE(ack.duplicate());
  ASSERT_TRUE(stream->WritesDone());
  grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();

  EXPECT_EQ(Count("SELECT count(*) FROM results WHERE prober_id = 'p-ingest'"), "5");
  EXPECT_EQ(server_->counters().batches_stored.load(), 2u);
  EXPECT_EQ(server_->counters().results_stored.load(), 5u);
  EXPECT_EQ(server_->counters().batches_duplicate.load(), 1u);
}

TEST_F(IngestServiceTest, AnInvalidBatchEndsTheStreamWithInvalidArgument) {
  auto stub = server_->IngestStub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub->Report(&ctx);
  v1::ResultBatch bad = Batch("p-invalid", 1, 2, absl::Now());
  bad.mutable_results(1)->clear_check_id();
  ASSERT_TRUE(stream->Write(bad));
  v1::Ack ack;
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "results[1] has no check_id"))
      << st.error_message();
  EXPECT_EQ(Count("SELECT count(*) FROM results WHERE prober_id = 'p-invalid'"), "0");
  EXPECT_EQ(server_->counters().batches_invalid.load(), 1u);
}

// Writes each of `messages` as raw bytes on one Report stream, half-closes
// and counts the replies.
grpc::Status ReportRaw(grpc::Channel* channel, const std::vector<std::string>& messages,
                       int* replies) {
  const grpc::internal::RpcMethod method("/sonde.v1.Ingest/Report",
                                         grpc::internal::RpcMethod::BIDI_STREAMING);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel, method, &ctx));
  for (const std::string& bytes : messages) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    if (!stream->Write(buffer)) {
      break;
    }
  }
  stream->WritesDone();
  grpc::ByteBuffer reply;
  *replies = 0;
  while (stream->Read(&reply)) {
    ++*replies;
  }
  return stream->Finish();
}

TEST_F(IngestServiceTest, BytesThatAreNoResultBatchEndTheStreamWithInvalidArgument) {
  int replies = 0;
  grpc::Status st = ReportRaw(server_->channel().get(),
                              {Batch("p-raw", 1, 2, absl::Now()).SerializeAsString(),
                               Batch("p-raw", 2, 2, absl::Now()).SerializeAsString(),
                               std::string("\xff\xff\xff\xff\x0f garbage", 13),
                               Batch("p-raw", 3, 2, absl::Now()).SerializeAsString()},
                              &replies);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_TRUE(
      absl::StrContains(st.error_message(), "message 3 on this stream is not a ResultBatch"))
      << st.error_message();
  EXPECT_EQ(replies, 2);  // the two batches before it were stored and acked
  EXPECT_EQ(Count("SELECT count(*) FROM results WHERE prober_id = 'p-raw'"), "4");
  EXPECT_EQ(server_->counters().batches_invalid.load(), 1u);

  // The next stream is served as usual.
  auto stub = server_->IngestStub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub->Report(&ctx);
  ASSERT_TRUE(stream->Write(Batch("p-raw", 3, 2, absl::Now())));
  v1::Ack ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_seq(), 3u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// A stopping prober reports a loss its spool has not reported yet in a
// batch of its own, without results.
TEST_F(IngestServiceTest, ABatchWithOnlyAGapIsStoredAndAcked) {
  auto stub = server_->IngestStub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub->Report(&ctx);
  v1::ResultBatch b = Batch("p-gap-only", 7, 0, absl::Now());
  v1::Gap* gap = b.add_gaps();
  gap->set_results(42);
  gap->set_first_batch_seq(3);
  gap->set_last_batch_seq(5);
  gap->mutable_from()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);
  gap->mutable_to()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 30);
  ASSERT_TRUE(stream->Write(b));
  v1::Ack ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_seq(), 7u);
  EXPECT_FALSE(ack.duplicate());
  stream->WritesDone();
  grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(Count("SELECT sum(results) FROM gaps WHERE prober_id = 'p-gap-only'"), "42");
  EXPECT_EQ(Count("SELECT count(*) FROM ingested_batches WHERE prober_id = 'p-gap-only'"), "1");
}

TEST_F(IngestServiceTest, AStreamCannotChangeItsProber) {
  auto stub = server_->IngestStub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub->Report(&ctx);
  v1::Ack ack;
  ASSERT_TRUE(stream->Write(Batch("p-one", 1, 1, absl::Now())));
  ASSERT_TRUE(stream->Read(&ack));
  ASSERT_TRUE(stream->Write(Batch("p-two", 1, 1, absl::Now())));
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Count("SELECT count(*) FROM results WHERE prober_id = 'p-two'"), "0");
}

// Issue 11: a database that is away holds the stream (no ack, no end, the
// wait shown by the gauge) instead of ending it; only a shutdown ends it,
// with UNAVAILABLE.
TEST_F(IngestServiceTest, ADatabaseThatIsAwayHoldsTheStreamUntilShutdownWithoutAck) {
  // A collector whose database is down (nothing listens on port 1).
  Server down("host=127.0.0.1 port=1 user=sonde dbname=sonde connect_timeout=2", &clock_);
  ASSERT_TRUE(down.started());
  auto stub = down.IngestStub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub->Report(&ctx);
  ASSERT_TRUE(stream->Write(Batch("p-down", 1, 1, absl::Now())));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (down.counters().streams_waiting_for_database.load() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(down.counters().streams_waiting_for_database.load(), 1u);
  // Still held a second later: retried, not ended.
  const uint64_t errors_then = down.counters().store_errors.load();
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(down.counters().streams_waiting_for_database.load(), 1u);
  EXPECT_GT(down.counters().store_errors.load(), errors_then) << "the database was not retried";
  EXPECT_EQ(down.counters().streams_active.load(), 1u);

  down.StartDraining();
  v1::Ack ack;
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_EQ(down.counters().batches_stored.load(), 0u);
  EXPECT_EQ(down.counters().streams_waiting_for_database.load(), 0u);
}

TEST_F(IngestServiceTest, QueryAvailabilityAnswersFromTheStoredData) {
  const absl::Time now = absl::Now();
  clock_.Set(now);
  auto ingest = server_->IngestStub();
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    auto stream = ingest->Report(&ctx);
    ASSERT_TRUE(stream->Write(Batch("p-query", 1, 4, now - absl::Minutes(10))));
    v1::Ack ack;
    ASSERT_TRUE(stream->Read(&ack));
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  auto query = server_->QueryStub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::AvailabilityRequest req;
  req.set_check_id("ingest-check");
  req.set_region("fra");
  v1::AvailabilityReply reply;
  grpc::Status st = query->Availability(&ctx, req, &reply);
  ASSERT_TRUE(st.ok()) << st.error_message();
  // Default window: the last hour on the service's clock.
  EXPECT_EQ(reply.to().seconds(), absl::ToUnixSeconds(now));
  EXPECT_EQ(reply.to().seconds() - reply.from().seconds(), 3600);
  ASSERT_EQ(reply.rows_size(), 1);
  EXPECT_GE(reply.rows(0).probes(), 4u);
  EXPECT_GE(reply.rows(0).failures(), 1u);
  EXPECT_EQ(reply.rows(0).top_failure_class(), FC::HTTP_STATUS);
}

// One batch with every shape a prober may send goes through ingest once; the
// stored rows, the rollups and what the detection hook (and a Detector fed
// from it) receive agree, because ingest normalised the batch before any of
// them read it.
TEST_F(IngestServiceTest, StoreRollupAndDetectorReadOneNormalisedResult) {
  absl::Mutex mu;
  std::vector<v1::ResultBatch> hooked;
  Server server(sonde::testing::PostgresEnvironment::conninfo(), &clock_,
                [&](const v1::ResultBatch& b) {
                  absl::MutexLock l(&mu);
                  hooked.push_back(b);
                });
  ASSERT_TRUE(server.started());

  const absl::Time t =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 60 * 60) - absl::Minutes(2);
  struct Sent {
    bool ok;
    FC::Code cls;
    bool want_ok;
    const char* want_class;
  };
  const Sent sent[] = {
      {true, FC::HTTP_STATUS, false, "HTTP_STATUS"},   // ok=true, failing class
      {true, FC::UNSPECIFIED, false, "PROBER_ERROR"},  // unset class, ok=true
      {false, FC::UNSPECIFIED, false, "PROBER_ERROR"},
      {false, FC::OK, true, "OK"},  // ok=false with class OK
      {true, FC::OK, true, "OK"},
  };
  v1::ResultBatch batch;
  batch.set_prober_id("p-norm");
  batch.set_region("fra");
  batch.set_batch_seq(1);
  for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); ++i) {
    v1::ProbeResult* r = batch.add_results();
    r->set_check_id("norm-check");
    r->set_service("svc");
    r->set_seq(i);
    r->set_prober_id("someone-else");  // the stream's identity wins
    r->set_region("ams");
    r->mutable_start_time()->set_seconds(absl::ToUnixSeconds(t) + static_cast<int64_t>(i));
    r->set_ok(sent[i].ok);
    r->set_failure_class(sent[i].cls);
  }
  {
    auto stub = server.IngestStub();
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    auto stream = stub->Report(&ctx);
    ASSERT_TRUE(stream->Write(batch));
    v1::Ack ack;
    ASSERT_TRUE(stream->Read(&ack));
    ASSERT_TRUE(stream->WritesDone());
    ASSERT_TRUE(stream->Finish().ok());
  }
  EXPECT_EQ(server.counters().results_normalized.load(), 4u);

  // The stored rows.
  auto rows = store_->QueryColumn(
      "SELECT seq || ' ' || ok || ' ' || failure_class || ' ' || prober_id || ' ' || region"
      " || ' ' || (extra->>'prober_id') || ' ' || coalesce(extra->>'ok', 'false')"
      " FROM results WHERE prober_id = 'p-norm' ORDER BY seq");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ((*rows)[i],
              absl::StrCat(i, " ", sent[i].want_ok ? "true" : "false", " ", sent[i].want_class,
                           " p-norm fra p-norm ", sent[i].want_ok ? "true" : "false"))
        << "result " << i;
  }

  // The rollups: PROBER_ERROR is neither probe nor failure.
  EXPECT_EQ(Count("SELECT probes || ' ' || failures || ' ' || prober_errors FROM rollup_minute"
                  " WHERE check_id = 'norm-check' AND region = 'fra'"),
            "3 1 2");
  auto classes = store_->QueryColumn(
      "SELECT failure_class || '=' || n FROM rollup_minute_class"
      " WHERE check_id = 'norm-check' AND region = 'fra' ORDER BY failure_class");
  ASSERT_TRUE(classes.ok()) << classes.status();
  EXPECT_EQ(*classes, (std::vector<std::string>{"HTTP_STATUS=1", "PROBER_ERROR=2"}));

  // What detection receives: the same results, field for field.
  std::vector<v1::ResultBatch> got;
  {
    absl::MutexLock l(&mu);
    got = hooked;
  }
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].results_size(), 5);
  for (int i = 0; i < 5; ++i) {
    const v1::ProbeResult& r = got[0].results(i);
    EXPECT_EQ(r.ok(), sent[i].want_ok) << "result " << i;
    EXPECT_EQ(FC::Code_Name(r.failure_class()), sent[i].want_class) << "result " << i;
    EXPECT_EQ(r.prober_id(), "p-norm");
    EXPECT_EQ(r.region(), "fra");
  }

  // And a Detector fed from the hook counts the same prober errors as the
  // rollup, and applies every result.
  auto detector = detect::Detector::Create(detect::DetectorOptions{});
  ASSERT_TRUE(detector.ok()) << detector.status();
  v1::Config config;
  config.add_regions("fra");
  v1::Check* check = config.add_checks();
  check->set_name("norm-check");
  check->set_service("svc");
  check->mutable_interval()->set_seconds(10);
  check->mutable_http()->set_url("http://127.0.0.1/");
  ASSERT_TRUE((*detector)->SetConfig(config, t - absl::Minutes(1)).ok());
  for (const v1::ProbeResult& r : got[0].results()) {
    (*detector)->Observe(r);
  }
  (void)(*detector)->Tick(t + absl::Minutes(1));
  const detect::DetectorStats stats = (*detector)->stats();
  EXPECT_EQ(stats.results_applied, 5u);
  EXPECT_EQ(stats.prober_errors, 2u);
}

}  // namespace
}  // namespace sonde::collector
