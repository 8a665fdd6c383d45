// DatabaseWait: what ingest does while PostgreSQL cannot commit. A stream
// whose batch cannot be stored because the database is away (a lost or
// refused connection) keeps its stream, stops reading -- gRPC flow control
// then holds the prober to its spool -- and retries the database every
// kRetry on its own, until the batch commits, the prober goes away or the
// collector shuts down (Stop). This class counts the streams held that way
// (`sonde_ingest_waiting_for_database` is 1 while any is) and logs one line
// when ingest starts waiting and one when it stops, never one per stream or
// per attempt.
//
// Thread-safe: every ingest handler thread holds a Hold while it waits; the
// metrics thread reads the counter; the shutdown thread calls Stop().
#ifndef SONDE_COLLECTOR_API_DATABASE_WAIT_H_
#define SONDE_COLLECTOR_API_DATABASE_WAIT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sonde::collector {

class DatabaseWait {
 public:
  // How often a held stream tries the database again: PostgreSQL answering
  // is noticed within this, so acks resume well inside 2 s.
  static constexpr absl::Duration kRetry = absl::Milliseconds(250);

  // `streams_waiting` (not owned) mirrors how many streams are held now.
  explicit DatabaseWait(std::atomic<uint64_t>* streams_waiting) : gauge_(streams_waiting) {}

  // One stream held for the database, from construction until destruction.
  class Hold {
   public:
    // `why`: the error that made the stream wait (logged by the first one).
    Hold(DatabaseWait* wait, absl::string_view why);
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    // The batch committed: the database answers again.
    void Committed() { committed_ = true; }
    // Sleeps kRetry; false when the collector is stopping (end the stream).
    bool Pause();

   private:
    DatabaseWait* wait_;
    bool committed_ = false;
  };

  // Shutdown: every held stream stops waiting now. Idempotent.
  void Stop();
  bool stopping() const;

 private:
  void Enter(absl::string_view why);
  void Leave(bool committed);

  std::atomic<uint64_t>* const gauge_;
  mutable absl::Mutex mu_;
  size_t held_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time since_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sonde::collector

#endif  // SONDE_COLLECTOR_API_DATABASE_WAIT_H_
