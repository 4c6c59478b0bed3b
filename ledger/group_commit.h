// GroupCommit: the write path both log backends share, and what a log knows to be durable.
//
// Appends are sealed under one lock (sequence, recorded_at, prev_hash, hash), so chain order =
// append order, and queued. One committer thread takes the queued appends as a group (within
// limits::kGroupCommitEventsMax / kGroupCommitBytesMax) and hands the group to the backend's
// Sink, which makes it durable as ONE unit: one synced RocksDB WriteBatch (embedded), one Kafka
// transaction. Once the write returns, the durable ends, tips and event counts move, waiters
// wake, and the appends' callbacks run in append order on the committer thread.
//
// Failure is sticky. A failed group fails every append queued behind it (they were sealed
// against it, and decided against its effects one level up, so they must not reach the log
// without it) and the log refuses later appends. A Sink that can recover (Kafka: a new producer,
// the tails re-read from the broker) is asked to, again and again until it succeeds or the log
// closes; the log then holds writes until its owner has refolded its write-side state from the
// log and calls ResumeWrites (event_log.h). A Sink that cannot (embedded) leaves the log
// refusing writes until it is reopened.
//
// A log that never writes (a Kafka read replica) uses only the durable half: Advance moves the
// ends as its follower sees committed events.
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/event_log.h"

namespace perfledger {

// Where a sealed event's offset comes from.
enum class OffsetSource {
  kSequence,  // offset = sequence, known when the event is sealed (embedded)
  kWrite,     // the write assigns it (Kafka: offsets have gaps); unknown until then
};

// One partition's durable tail: where a writer continues.
struct DurableTail {
  Offset end;                  // offset after the last durable event
  uint64_t next_sequence = 0;  // the next event's sequence = durable events in the partition
  std::string tip;             // hash of the last durable event (GenesisHash() when none)
};

// One sealed append, as the committer hands it to the Sink.
struct SealedAppend {
  AppendBatch events;                 // sealed in place; each position carries its partition
  std::vector<std::string> values;    // each event as the Sink stores it (Sink::Encode)
  std::vector<LogPosition> positions; // OffsetSource::kSequence: set at sealing; kWrite: by Write
  std::vector<std::string> hashes;    // each event's hash (the durable tips once written)
  size_t bytes = 0;
  AppendDone done;
};

// What a failed group means, as the Sink classifies it.
struct GroupFailure {
  absl::Status group;    // what each append of the group gets
  absl::Status queued;   // what each append queued behind it gets
  absl::Status refusal;  // why later appends are refused (FAILED_PRECONDITION: for good)
  bool recoverable = false;  // Sink::Recover may bring the log back
};

struct GroupCommitStats {
  uint64_t appends = 0;        // appends accepted
  uint64_t group_commits = 0;  // groups written
  uint64_t events = 0;         // events written
  uint64_t recoveries = 0;     // failed writes recovered from
};

class GroupCommit {
 public:
  class Sink {
   public:
    virtual ~Sink() = default;
    // Under the log's lock, once per event just sealed: the bytes to store (RESOURCE_EXHAUSTED
    // or INVALID_ARGUMENT refuse the whole append, and nothing of it is queued).
    virtual absl::StatusOr<std::string> Encode(v1::Envelope& sealed) = 0;
    // On the committer thread, without the lock: makes `group` durable as one unit, or none of
    // it (or, where the backend cannot tell, says so in `failure`). With OffsetSource::kWrite it
    // fills the positions' offsets. On error it may fill `failure`; whatever it leaves OK
    // becomes UNAVAILABLE "append failed: <error>", not recoverable.
    virtual absl::Status Write(std::vector<SealedAppend>& group, GroupFailure& failure) = 0;
    // On the committer thread after a recoverable failure, one attempt: the durable tails as
    // the backend now knows them (every partition), once nothing of the failed group can still
    // land. The committer retries every limits::kLogRecoverRetryMs until it succeeds or the
    // log closes.
    virtual absl::StatusOr<std::vector<DurableTail>> Recover() {
      return absl::UnimplementedError("this log does not recover on its own");
    }
    // On the committer thread, while nothing is queued, every limits::kGroupCommitIdleMs
    // (a Kafka producer serves late reports and errors here).
    virtual void Idle() {}
  };

  struct Options {
    OffsetSource offsets = OffsetSource::kSequence;
    // How long the committer waits for a group as large as the previous one before writing
    // (a lone appender never waits). Zero for a write whose cost grows with its size.
    absl::Duration linger = absl::ZeroDuration();
    // The committer thread's name.
    std::string thread_name = "pl-commit";
    // How the log names itself in the server's log lines.
    std::string log_name = "log";
  };

  // `tails`: every partition's durable tail (index = partition). `sink` null: a log that never
  // writes (Append refuses); otherwise the committer starts here and `sink` must outlive it
  // (Close, or the destructor, joins it).
  GroupCommit(Options options, std::vector<DurableTail> tails, Sink* sink);
  // Close()s, waits for queued appends, joins the committer.
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // EventLog::Append (the batch is checked with CheckAppendBatch here).
  void Append(AppendBatch events, AppendDone done);
  // Durable ends, tips and event counts.
  LogEnds Ends();
  LogEnds WaitForAppend(const LogEnds& seen, absl::Time deadline);
  std::vector<std::string> Tips();
  // Ends, event counts and tips at one moment, with the write counters.
  LogSummary Summary();
  // A log without a sink: `partition` is durable up to `tail` (moves forward only).
  void Advance(PartitionId partition, const DurableTail& tail);
  bool WritesHeld();
  void ResumeWrites();
  // Queued appends still complete; later ones fail with UNAVAILABLE; waiters wake; the
  // committer (and any recovery between attempts) stops. Idempotent; does not join.
  void Close();
  GroupCommitStats stats();

 private:
  void CommitLoop();
  // Takes the next group from the queue (waiting for work, and for `linger`); false once closed
  // and drained.
  bool NextGroup(std::vector<SealedAppend>& group);
  // Retries Sink::Recover until it succeeds or the log closes; then holds writes.
  void Recover();
  // Why an append is refused now, or OK. Requires mu_.
  absl::Status RefusalLocked() const;

  const Options options_;
  Sink* const sink_;

  std::mutex mu_;
  std::condition_variable queue_cv_;     // the committer waits for work (or for close)
  std::condition_variable space_cv_;     // appenders wait for queue room
  std::condition_variable appended_cv_;  // waiters for new durable events
  std::deque<SealedAppend> queue_;
  size_t last_group_appends_ = 1;        // appends the last group took (gathering target)
  // Sealed (maybe not yet durable).
  std::vector<uint64_t> next_sequence_;
  std::vector<std::string> tip_;
  // Durable.
  LogEnds durable_ends_;
  std::vector<std::string> durable_tips_;
  std::vector<uint64_t> durable_events_;
  GroupFailure failure_;                 // the first failed group's; refusal OK = none
  bool held_ = false;                    // recovered; writes wait for ResumeWrites
  bool closed_ = false;
  GroupCommitStats stats_;
  std::thread committer_;
};

}  // namespace perfledger
