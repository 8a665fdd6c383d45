// sonde-bench-ingest: how fast a running sonde-collector stores probe
// results in PostgreSQL, next to a raw COPY of the same rows into the same
// table of the same server, measured in the same run (acceptance 8 of
// issue 4). See bench/ingest/README.md; bench/ingest/run.sh sets everything up.
//
// Phase 1 (collector): --streams concurrent Ingest.Report streams, each on
// its own connection and with its own prober id and region, like probers
// (with several --collector addresses, stream i goes to the i mod n-th: one
// PostgreSQL behind replicas, bench/cluster). Each sends ResultBatches of
// --batch realistic HTTPS results as fast as --window unacked batches allow,
// for --warmup + --duration. Counted: results acked inside the window. The
// batches are serialised before the clock starts and sent as bytes, only
// batch_seq, seqs and start times patched per batch (bench_batches.h), as
// phase 2 encodes its rows before its clock and a real prober encodes on its
// own machine; --pre-encode=false builds and serialises each batch in the
// phase instead (the load client's ~2-4 us per result then counts against
// the collector, on the same cores).
//
// Phase 2 (raw COPY): the same number of rows, encoded exactly as the
// collector encodes them (collector/storage/copy_rows.h), is COPYed into
// `results` by --streams connections in parallel: each its share in one COPY and one
// transaction, and again as one COPY + COMMIT per --batch rows. Encoding
// happens before the clock starts. The faster of the two is the baseline.
// Phases 1 and 2 alternate for --rounds rounds (medians reported), so that
// other load on the machine hits both alike.
//
// Paced phase: --paced-rate results/s spread over the streams, one batch per
// stream at a time as a prober sends them. Results are stamped as ending
// when their batch is written, so ack time - write time is the time from a
// probe's end to its commit, less the up to 1 s a real prober waits to fill
// a batch. (At full load, phase 1's write -> ack is mostly queueing.)
//
// Phase 3 (optional, --prober-like): the median time from a real probe's end
// (started_at + total_us) to its row's received_at (the storing
// transaction's start), for rows of probers whose id matches the SQL LIKE
// pattern: what an operator sees, batching delay included.
//
// Output: a human summary and one JSON line. Threads: one writer and one
// reader per stream in phase 1, one per connection in phase 2; all bounded
// by the deadlines.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/ingest/bench_batches.h"
#include "collector/storage/copy_rows.h"
#include "collector/storage/store.h"
#include "common/flags.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "sonde/v1/collector.grpc.pb.h"

namespace sonde::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kUsage[] =
    R"(usage: sonde-bench-ingest --collector HOST:PORT[,HOST:PORT...] --postgres CONNINFO [flags]

Measures collector ingest (results/s into PostgreSQL from concurrent prober
streams, and the time from a probe's end to its commit) next to a raw COPY of
the same rows into the same table. bench/ingest/run.sh starts PostgreSQL, a
collector and a prober and runs this.)";

struct Options {
  std::string collector;
  std::string postgres;
  int64_t streams = 10;
  int64_t batch = 500;
  int64_t window = 8;
  int64_t checks = 1000;
  absl::Duration warmup = absl::Seconds(3);
  absl::Duration duration = absl::Seconds(20);
  bool copy = true;
  int64_t rounds = 3;
  int64_t paced_rate = 5000;
  std::string prober_like;
  std::string run_id;
  bool pre_encode = true;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// ---- Phase 1: through the collector ----

struct StreamResult {
  uint64_t acked_in_window = 0;
  uint64_t acked_total = 0;
  std::vector<double> latency_ms;  // per batch acked in the window
  std::string error;
};

std::string StreamProberId(const Options& o, const std::string& tag, int index) {
  return absl::StrCat("bench-", tag, "-", o.run_id, "-", index);
}
std::string StreamRegion(int index) { return absl::StrCat("bench-r", index); }

// One prober-like stream until `deadline`. `interval` > 0 paces it (one
// batch per interval, like a prober producing batch/interval results/s);
// 0 sends as fast as the unacked window allows. With `templates` it sends
// their pre-encoded bytes (Ingest.Report with raw request bytes, as the
// prober's uplink does), else it builds and serialises each batch itself.
StreamResult RunStream(const Options& o, const std::string& tag, int index,
                       BatchTemplates* templates, Clock::time_point window_start,
                       Clock::time_point deadline, Clock::duration interval) {
  StreamResult out;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own TCP connection
  args.SetMaxSendMessageSize(-1);
  // Stream i goes to replica i mod n (bench/cluster spreads the streams).
  const std::vector<std::string> replicas = absl::StrSplit(o.collector, ',');
  auto channel = grpc::CreateCustomChannel(replicas[index % replicas.size()],
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = v1::Ingest::NewStub(channel);
  const std::string prober_id = StreamProberId(o, tag, index);
  const std::string region = StreamRegion(index);
  std::mt19937_64 rng(index);

  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ResultBatch, v1::Ack>> typed;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, v1::Ack>> raw;
  const std::string method = absl::StrCat("/", v1::Ingest::service_full_name(), "/Report");
  if (templates != nullptr) {
    raw.reset(grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, v1::Ack>::Create(
        channel.get(),
        grpc::internal::RpcMethod(method.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING),
        &ctx));
  } else {
    typed = stub->Report(&ctx);
  }
  grpc::internal::ReaderInterface<v1::Ack>* acks =
      raw ? static_cast<grpc::internal::ReaderInterface<v1::Ack>*>(raw.get()) : typed.get();
  absl::Mutex mu;
  size_t in_flight = 0;
  bool reader_done = false;
  // batch_seq -> (write time, results)
  std::vector<std::pair<Clock::time_point, int>> sent;
  const uint64_t first_batch_seq = 1;

  std::thread reader([&] {
    v1::Ack ack;
    while (acks->Read(&ack)) {
      Clock::time_point now = Clock::now();
      absl::MutexLock l(&mu);
      size_t i = ack.batch_seq() - first_batch_seq;
      if (i < sent.size()) {
        out.acked_total += sent[i].second;
        if (now >= window_start && now <= deadline) {
          out.acked_in_window += sent[i].second;
          out.latency_ms.push_back(
              std::chrono::duration<double, std::milli>(now - sent[i].first).count());
        }
      }
      if (in_flight > 0) {
        in_flight--;
      }
    }
    absl::MutexLock l(&mu);
    reader_done = true;
  });

  uint64_t next_seq = 1, batch_seq = first_batch_seq;
  std::string bytes;  // the pre-encoded batch being written
  // Paced streams start spread over one interval, as independent probers
  // would, instead of all sending in the same instant.
  Clock::time_point next_send = Clock::now() + interval * index / o.streams;
  while (Clock::now() < deadline) {
    if (interval.count() > 0) {
      std::this_thread::sleep_until(std::min(next_send, deadline));
      next_send += interval;
      if (Clock::now() >= deadline) {
        break;
      }
    }
    {
      absl::MutexLock l(&mu);
      auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return in_flight < static_cast<size_t>(o.window) || reader_done;
      };
      mu.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(100));
      if (reader_done) {
        break;
      }
      if (!room()) {
        continue;
      }
    }
    // Stamped now: these probes "ended" as their batch leaves.
    bool wrote;
    if (templates != nullptr) {
      templates->Next(batch_seq, absl::Now(), &bytes);
      {
        absl::MutexLock l(&mu);
        sent.emplace_back(Clock::now(), templates->results_per_batch());
        in_flight++;
      }
      grpc::Slice slice(bytes.data(), bytes.size());
      wrote = raw->Write(grpc::ByteBuffer(&slice, 1));
    } else {
      v1::ResultBatch b =
          MakeBatch(prober_id, region, batch_seq, &next_seq, static_cast<int>(o.batch),
                    static_cast<int>(o.checks), absl::Now(), &rng);
      {
        absl::MutexLock l(&mu);
        sent.emplace_back(Clock::now(), b.results_size());
        in_flight++;
      }
      wrote = typed->Write(b);
    }
    if (!wrote) {
      break;
    }
    batch_seq++;
  }
  raw ? raw->WritesDone() : typed->WritesDone();
  // Let the last acks come in (bounded), then end the stream.
  {
    absl::MutexLock l(&mu);
    auto drained = [&]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return in_flight == 0 || reader_done; };
    mu.AwaitWithTimeout(absl::Condition(&drained), absl::Seconds(30));
  }
  ctx.TryCancel();
  reader.join();
  grpc::Status st = raw ? raw->Finish() : typed->Finish();
  if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
    out.error = absl::StrCat("stream ", index, ": ", st.error_message());
  }
  return out;
}

struct StreamPhase {
  double rate = 0;  // results acked per second of the window
  uint64_t acked_in_window = 0;
  std::vector<double> latency_ms;
  std::string error;
};

// --streams streams for --warmup + --duration.
StreamPhase RunStreams(const Options& o, const std::string& tag, Clock::duration interval) {
  // Every stream's batches are encoded before the clock starts (--pre-encode).
  std::vector<std::unique_ptr<BatchTemplates>> templates(o.streams);
  for (int i = 0; o.pre_encode && i < o.streams; ++i) {
    templates[i] = std::make_unique<BatchTemplates>(
        StreamProberId(o, tag, i), StreamRegion(i), static_cast<int>(o.batch),
        static_cast<int>(o.checks), absl::Now(), static_cast<uint64_t>(i));
  }
  auto start = Clock::now();
  auto window_start = start + absl::ToChronoMilliseconds(o.warmup);
  auto deadline = window_start + absl::ToChronoMilliseconds(o.duration);
  std::vector<StreamResult> results(o.streams);
  std::vector<std::thread> threads;
  for (int i = 0; i < o.streams; ++i) {
    threads.emplace_back([&, i] {
      results[i] = RunStream(o, tag, i, templates[i].get(), window_start, deadline, interval);
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  StreamPhase phase;
  for (const StreamResult& r : results) {
    if (!r.error.empty()) {
      phase.error = r.error;
    }
    phase.acked_in_window += r.acked_in_window;
    phase.latency_ms.insert(phase.latency_ms.end(), r.latency_ms.begin(), r.latency_ms.end());
  }
  phase.rate = phase.acked_in_window / absl::ToDoubleSeconds(o.duration);
  return phase;
}

// ---- Phase 2: raw COPY ----

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;

bool Exec(PGconn* c, const char* sql, std::string* error) {
  PGresult* r = PQexec(c, sql);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) {
    *error = PQresultErrorMessage(r);
  }
  PQclear(r);
  return ok;
}

// COPYs `chunks` (each a whole number of rows) on one connection: all in one
// transaction when `commit_each` is false, else BEGIN/COPY/COMMIT per chunk.
bool CopyChunks(const std::string& conninfo, const std::vector<std::string>& chunks,
                bool commit_each, std::string* error) {
  PgConn c(PQconnectdb(conninfo.c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK) {
    *error = PQerrorMessage(c.get());
    return false;
  }
  auto copy = [&](const std::string& data) {
    PGresult* r = PQexec(c.get(), collector::CopyResultsStatement());
    bool ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!ok) {
      *error = PQerrorMessage(c.get());
      return false;
    }
    constexpr size_t kPiece = 1 << 20;
    for (size_t off = 0; off < data.size(); off += kPiece) {
      size_t n = std::min(kPiece, data.size() - off);
      if (PQputCopyData(c.get(), data.data() + off, static_cast<int>(n)) != 1) {
        *error = PQerrorMessage(c.get());
        return false;
      }
    }
    if (PQputCopyEnd(c.get(), nullptr) != 1) {
      *error = PQerrorMessage(c.get());
      return false;
    }
    while (PGresult* res = PQgetResult(c.get())) {
      if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        *error = PQresultErrorMessage(res);
        ok = false;
      }
      PQclear(res);
    }
    return ok;
  };
  if (!commit_each && !Exec(c.get(), "BEGIN", error)) {
    return false;
  }
  for (const std::string& chunk : chunks) {
    if (commit_each && !Exec(c.get(), "BEGIN", error)) {
      return false;
    }
    if (!copy(chunk)) {
      return false;
    }
    if (commit_each && !Exec(c.get(), "COMMIT", error)) {
      return false;
    }
  }
  return commit_each || Exec(c.get(), "COMMIT", error);
}

// Rows of --streams COPY connections, `rows` in all, as COPY text: per
// connection, a list of chunks of `batch` rows. `tag` keeps prober ids apart.
std::vector<std::vector<std::string>> EncodeRows(const Options& o, uint64_t rows,
                                                 const std::string& tag) {
  std::vector<std::vector<std::string>> per_conn(o.streams);
  std::mt19937_64 rng(42);
  const uint64_t per = rows / o.streams;
  for (int i = 0; i < o.streams; ++i) {
    const std::string prober_id = absl::StrCat("copy-", tag, "-", o.run_id, "-", i);
    const std::string region = absl::StrCat("bench-r", i);
    uint64_t next_seq = 1;
    for (uint64_t done = 0, seq = 1; done < per; done += o.batch, ++seq) {
      int n = static_cast<int>(std::min<uint64_t>(o.batch, per - done));
      v1::ResultBatch b = MakeBatch(prober_id, region, seq, &next_seq, n,
                                    static_cast<int>(o.checks), absl::Now(), &rng);
      std::string chunk;
      for (const v1::ProbeResult& r : b.results()) {
        collector::AppendCopyRow(b, r, &chunk);
      }
      per_conn[i].push_back(std::move(chunk));
    }
  }
  return per_conn;
}

// Rows per second of a parallel COPY of `per_conn`.
double TimeCopy(const Options& o, const std::vector<std::vector<std::string>>& per_conn,
                bool commit_each, uint64_t rows, std::string* error) {
  std::vector<std::thread> threads;
  std::vector<std::string> errors(per_conn.size());
  std::atomic<bool> ok{true};
  auto start = Clock::now();
  for (size_t i = 0; i < per_conn.size(); ++i) {
    threads.emplace_back([&, i] {
      if (!CopyChunks(o.postgres, per_conn[i], commit_each, &errors[i])) {
        ok = false;
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (!ok) {
    for (const std::string& e : errors) {
      if (!e.empty()) {
        *error = e;
      }
    }
    return 0;
  }
  return rows / secs;
}

int Main(int argc, char** argv) {
  Options o;
  common::FlagSet flags("sonde-bench-ingest", kUsage);
  flags.String("collector", &o.collector,
               "The collector's gRPC address (plaintext); several, comma-separated, spread\n"
               "the streams over them (stream i -> address i mod n).");
  flags.String("postgres", &o.postgres, "libpq connection string of the collector's database.");
  flags.Int("streams", &o.streams, "Concurrent prober streams (and COPY connections).");
  flags.Int("batch", &o.batch, "Results per batch.");
  flags.Int("window", &o.window, "Unacked batches per stream at most.");
  flags.Int("checks", &o.checks, "Distinct check ids per stream.");
  flags.Duration("warmup", &o.warmup, "Time before the measurement window.");
  flags.Duration("duration", &o.duration, "The measurement window.");
  flags.Bool("copy", &o.copy, "Also measure the raw COPY baseline.");
  flags.Bool("pre-encode", &o.pre_encode,
             "Serialise the streams' batches before the clock starts and send those bytes\n"
             "(batch_seq, seqs and start times patched per batch), as the COPY baseline\n"
             "encodes its rows before its clock; false builds and serialises every batch\n"
             "while the clock runs (the load client's CPU then counts against the collector).");
  flags.Int("rounds", &o.rounds, "Collector and COPY phases, interleaved; medians are reported.");
  flags.Int("paced-rate", &o.paced_rate,
            "Results/s of the paced phase that measures write -> ack at a steady load\n"
            "(0 skips it).");
  flags.String("prober-like", &o.prober_like,
               "SQL LIKE pattern of real prober ids whose probe-end-to-commit time to report.");
  auto rest = flags.Parse(argc, argv);
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  if (!rest.ok() || !rest->empty() || o.collector.empty() || o.postgres.empty() || o.streams < 1 ||
      o.batch < 1 || o.window < 1 || o.checks < 1 || o.rounds < 1 || o.paced_rate < 0) {
    std::cerr << "sonde-bench-ingest: "
              << (rest.ok() ? "--collector and --postgres are required; counts must be >= 1"
                            : std::string(rest.status().message()))
              << "\n";
    return 2;
  }
  o.run_id = absl::StrCat(absl::ToUnixSeconds(absl::Now()));

  // Batches stored but not yet in the rollups (migration 10: the rollup
  // folder writes them after the commit); -1 when the schema has no such
  // column (an older collector writes rollups in the batch transaction).
  auto unrolled = [&o]() -> int64_t {
    PgConn c(PQconnectdb(o.postgres.c_str()));
    PGresult* r = PQexec(c.get(), "SELECT count(*) FROM ingested_batches WHERE NOT rolled");
    int64_t n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      n = std::strtoll(PQgetvalue(r, 0, 0), nullptr, 10);
    }
    PQclear(r);
    return n;
  };

  // Phases 1 and 2, interleaved for --rounds rounds, so that whatever else
  // the machine does hits both sides alike; medians are reported.
  std::vector<double> ingest_rates, copy_one_rates, copy_each_rates, latency;
  for (int round = 0; round < o.rounds; ++round) {
    // The rollup backlog every 2 s while the streams run (warm-up
    // included): bounded when it stops growing.
    std::atomic<bool> streaming{true};
    std::vector<int64_t> backlogs;
    std::thread sampler([&] {
      while (streaming.load()) {
        if (const int64_t n = unrolled(); n >= 0) {
          backlogs.push_back(n);
        }
        for (int i = 0; i < 20 && streaming.load(); ++i) {
          absl::SleepFor(absl::Milliseconds(100));
        }
      }
    });
    StreamPhase phase = RunStreams(o, absl::StrCat("r", round), Clock::duration::zero());
    streaming.store(false);
    sampler.join();
    if (!phase.error.empty()) {
      std::cerr << "warning: " << phase.error << "\n";
    }
    ingest_rates.push_back(phase.rate);
    latency.insert(latency.end(), phase.latency_ms.begin(), phase.latency_ms.end());
    std::printf("round %d: collector %.0f results/s", round + 1, phase.rate);
    // The rollups must keep up: the backlog when the window closes, and how
    // long it takes to drain; the COPY phase starts only after that, so the
    // collector's deferred work never runs during the baseline.
    if (const int64_t backlog = unrolled(); backlog >= 0) {
      const absl::Time since = absl::Now();
      int64_t left = backlog;
      while (left > 0 && absl::Now() - since < absl::Seconds(60)) {
        absl::SleepFor(absl::Milliseconds(50));
        left = unrolled();
      }
      std::printf(
          " (%lld batches = %lld results not yet rolled up at the end, %s in %.2f s;"
          " unrolled batches every 2 s: %s)",
          static_cast<long long>(backlog), static_cast<long long>(backlog * o.batch),
          left == 0 ? "rolled up" : "NOT rolled up", absl::ToDoubleSeconds(absl::Now() - since),
          absl::StrJoin(backlogs, " ").c_str());
    }
    if (o.copy && phase.acked_in_window > 0) {
      // What the collector phase wrote is flushed to disk before the
      // baseline runs, so neither side pays for the other's checkpoint.
      {
        PgConn c(PQconnectdb(o.postgres.c_str()));
        PQclear(PQexec(c.get(), "CHECKPOINT"));
      }
      std::string error;
      const uint64_t rows = phase.acked_in_window;  // as many rows as the collector stored
      auto one = EncodeRows(o, rows, absl::StrCat("a", round));
      copy_one_rates.push_back(TimeCopy(o, one, /*commit_each=*/false, rows, &error));
      auto each = EncodeRows(o, rows, absl::StrCat("b", round));
      if (error.empty()) {
        copy_each_rates.push_back(TimeCopy(o, each, /*commit_each=*/true, rows, &error));
      }
      if (!error.empty()) {
        std::cerr << "\nraw COPY failed: " << error << "\n";
        return 1;
      }
      std::printf(
          ", raw COPY %.0f rows/s (one transaction per connection), %.0f rows/s (COMMIT"
          " every %d rows)",
          copy_one_rates.back(), copy_each_rates.back(), static_cast<int>(o.batch));
    }
    std::printf("\n");
  }
  const double ingest_rate = Percentile(ingest_rates, 0.5);
  const double copy_one_txn = Percentile(copy_one_rates, 0.5);
  const double copy_per_batch = Percentile(copy_each_rates, 0.5);
  // The baseline is the faster way of COPYing: the ratio never flatters.
  const double copy_best = std::max(copy_one_txn, copy_per_batch);
  std::printf(
      "collector ingest, %d streams x %d results/batch, <= %d unacked: median %.0f"
      " results/s\n",
      static_cast<int>(o.streams), static_cast<int>(o.batch), static_cast<int>(o.window),
      ingest_rate);
  std::printf("  write -> ack at full load (queueing included): median %.0f ms, p90 %.0f ms\n",
              Percentile(latency, 0.5), Percentile(latency, 0.9));
  if (o.copy) {
    std::printf(
        "raw COPY of the same rows, %d connections: median %.0f rows/s (one transaction"
        " each), %.0f rows/s (COMMIT every %d rows)\n",
        static_cast<int>(o.streams), copy_one_txn, copy_per_batch, static_cast<int>(o.batch));
    std::printf("  collector / raw COPY (the faster of the two): %.0f%%\n",
                100 * ingest_rate / copy_best);
  }

  // The time from a probe's end to its commit at a steady, moderate load:
  // --paced-rate results/s spread over the streams, one batch per stream
  // per batch/(rate/streams) seconds, as probers send them.
  std::vector<double> paced_latency;
  if (o.paced_rate > 0) {
    const double per_stream = static_cast<double>(o.paced_rate) / o.streams;
    auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(o.batch / per_stream));
    StreamPhase phase = RunStreams(o, "paced", interval);
    paced_latency = phase.latency_ms;
    std::printf(
        "paced at %lld results/s (%d streams, a %d-result batch every %.2f s each):"
        " write -> ack median %.1f ms, p90 %.1f ms, p99 %.1f ms\n",
        static_cast<long long>(o.paced_rate), static_cast<int>(o.streams),
        static_cast<int>(o.batch), o.batch / per_stream, Percentile(paced_latency, 0.5),
        Percentile(paced_latency, 0.9), Percentile(paced_latency, 0.99));
  }

  // Phase 3.
  double prober_median_ms = -1, prober_p90_ms = -1;
  uint64_t prober_rows = 0;
  if (!o.prober_like.empty()) {
    PgConn c(PQconnectdb(o.postgres.c_str()));
    const char* values[] = {o.prober_like.c_str()};
    PGresult* r = PQexecParams(
        c.get(),
        "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY d),"
        " percentile_cont(0.9) WITHIN GROUP (ORDER BY d) FROM (SELECT extract(epoch FROM"
        " received_at - started_at - total_us * interval '1 microsecond') * 1000 AS d"
        " FROM results WHERE prober_id LIKE $1) x",
        1, nullptr, values, nullptr, nullptr, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 1)) {
      prober_rows = std::strtoull(PQgetvalue(r, 0, 0), nullptr, 10);
      prober_median_ms = std::strtod(PQgetvalue(r, 0, 1), nullptr);
      prober_p90_ms = std::strtod(PQgetvalue(r, 0, 2), nullptr);
      std::printf(
          "real probers (%s): probe end -> stored, median %.0f ms, p90 %.0f ms over %llu"
          " results\n",
          o.prober_like.c_str(), prober_median_ms, prober_p90_ms,
          static_cast<unsigned long long>(prober_rows));
    } else {
      std::cerr << "prober latency query failed: " << PQerrorMessage(c.get()) << "\n";
    }
    PQclear(r);
  }

  std::printf(
      "{\"streams\":%d,\"batch\":%d,\"window\":%d,\"rounds\":%d,\"ingest_results_per_s\":%.0f,"
      "\"copy_one_txn_rows_per_s\":%.0f,\"copy_per_batch_rows_per_s\":%.0f,\"ratio_vs_copy\":%.3f,"
      "\"full_load_ack_median_ms\":%.0f,\"paced_rate\":%lld,\"paced_ack_median_ms\":%.1f,"
      "\"paced_ack_p90_ms\":%.1f,\"prober_end_to_stored_median_ms\":%.0f,"
      "\"prober_end_to_stored_p90_ms\":%.0f,\"prober_rows\":%llu}\n",
      static_cast<int>(o.streams), static_cast<int>(o.batch), static_cast<int>(o.window),
      static_cast<int>(o.rounds), ingest_rate, copy_one_txn, copy_per_batch,
      copy_best > 0 ? ingest_rate / copy_best : 0, Percentile(latency, 0.5),
      static_cast<long long>(o.paced_rate), Percentile(paced_latency, 0.5),
      Percentile(paced_latency, 0.9), prober_median_ms, prober_p90_ms,
      static_cast<unsigned long long>(prober_rows));
  return ingest_rate > 0 ? 0 : 1;
}

}  // namespace
}  // namespace sonde::bench

int main(int argc, char** argv) { return sonde::bench::Main(argc, argv); }
