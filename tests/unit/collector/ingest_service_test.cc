// IngestService and QueryService over real gRPC (in-process server on a
// loopback port) and a real PostgreSQL.
#include "collector/ingest_service.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/query_service.h"
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
  Server(const std::string& conninfo, const common::Clock* clock)
      : pool_(conninfo), ingest_(&pool_), query_(&pool_, clock) {
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
    if (!stream->Write(buffer)) break;
  }
  stream->WritesDone();
  grpc::ByteBuffer reply;
  *replies = 0;
  while (stream->Read(&reply)) ++*replies;
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

TEST_F(IngestServiceTest, ADatabaseFailureEndsTheStreamUnavailableWithoutAck) {
  // A collector whose database is down (nothing listens on port 1).
  Server down("host=127.0.0.1 port=1 user=sonde dbname=sonde connect_timeout=2", &clock_);
  ASSERT_TRUE(down.started());
  auto stub = down.IngestStub();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub->Report(&ctx);
  ASSERT_TRUE(stream->Write(Batch("p-down", 1, 1, absl::Now())));
  v1::Ack ack;
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_EQ(down.counters().store_errors.load(), 1u);
  EXPECT_EQ(down.counters().batches_stored.load(), 0u);
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

}  // namespace
}  // namespace sonde::collector
