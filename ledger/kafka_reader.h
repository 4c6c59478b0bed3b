// The read side of the Kafka event log (kafka_log.h, "Reading" and "Read replica"):
// KafkaReader serves reads from a small pool of consumer lanes with cached cursors,
// ScanKafkaTail finds a partition's durable tail, and KafkaFollower is a read replica's follower
// thread. Internal to ledger/.
//
// Thread safety: KafkaReader's methods may be called from any thread concurrently; a cursor
// serves one Read at a time. ScanKafkaTail consumes the partition on `lane`, so nothing else may
// consume it there meanwhile. KafkaFollower is started and stopped by its owner; only its own
// thread consumes its client.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/event_log.h"
#include "ledger/group_commit.h"
#include "ledger/kafka_client.h"
#include "ledger/kafka_options.h"

namespace perfledger {

// Reads the tail with `lane`'s consumer (lane 0 at Open; a fresh one when recovering, as
// lane 0 may be serving readers then): the offset after the last committed event, the next
// event's sequence and the hash of the last committed event (0, 0 and GenesisHash() when there
// is none), read backwards from the last stable offset past markers and aborted records.
// DATA_LOSS when the last event does not parse or history was deleted.
absl::StatusOr<DurableTail> ScanKafkaTail(KafkaClient& lane, uint32_t partition,
                                          absl::Time deadline);

// Reads: read_committed consumers ("lanes", at most limits::kKafkaReadLanesMax), each with one
// cursor per partition that keeps its fetch position and prefetch queue between calls, so a
// sequential scan never seeks. Another position on the same partition takes a free cursor or
// reseeks the least recently used one.
class KafkaReader {
 public:
  struct Stats {
    uint64_t cursor_hits = 0;   // reads continued on a positioned cursor
    uint64_t cursor_seeks = 0;  // reads that had to (re)position a cursor
  };

  // `partitions`: log partitions (data partitions + 1). `lane0`: the first lane (Open's
  // consumer); more are created as readers need them.
  KafkaReader(const KafkaLogOptions& options, KafkaTopicNames names, uint32_t partitions,
              std::unique_ptr<KafkaClient> lane0);
  // Stops the started cursors and frees the lanes.
  ~KafkaReader();
  KafkaReader(const KafkaReader&) = delete;
  KafkaReader& operator=(const KafkaReader&) = delete;

  // Committed events of `partition` at or after `from`, at most `max_events`, below `end` (the
  // offset after the last committed event): waits for them to arrive, at most read_timeout,
  // and then fails with UNAVAILABLE if none did.
  absl::StatusOr<std::vector<StoredEvent>> Read(uint32_t partition, uint64_t from, uint64_t end,
                                                size_t max_events);
  Stats stats();

 private:
  struct Cursor;

  Cursor* AcquireCursor(uint32_t partition, uint64_t from, absl::Status* error);
  void ReleaseCursor(Cursor* cursor);
  absl::Status ReadFromCursor(Cursor& c, uint32_t partition, uint64_t from, uint64_t end,
                              size_t max_events, std::vector<StoredEvent>& out);

  const KafkaLogOptions options_;
  const KafkaTopicNames names_;
  const uint32_t partitions_;

  // Lanes and their cursors (lane-major: cursors_[lane * partitions + p]).
  std::mutex mu_;
  std::condition_variable cv_;           // a busy cursor was released
  std::vector<std::unique_ptr<KafkaClient>> lanes_;
  std::vector<std::unique_ptr<Cursor>> cursors_;
  uint64_t read_clock_ = 0;              // LRU clock
  uint64_t cursor_hits_ = 0;
  uint64_t cursor_seeks_ = 0;
};

// A read replica's follower: a thread that long-polls the tails of all partitions (fetch wait =
// replica_poll_interval) and advances `durable`'s ends as committed events appear.
class KafkaFollower {
 public:
  // `partitions`: log partitions (data partitions + 1). `durable` must outlive the thread
  // (Stop, or the destructor, joins it).
  KafkaFollower(const KafkaLogOptions& options, KafkaTopicNames names, uint32_t partitions,
                GroupCommit* durable);
  // Stops the thread, then the consumer.
  ~KafkaFollower();
  KafkaFollower(const KafkaFollower&) = delete;
  KafkaFollower& operator=(const KafkaFollower&) = delete;

  // Starts consuming every partition at `durable`'s ends, and the thread (pl-kfollow).
  absl::Status Start();
  // Stops and joins the thread; `durable` is no longer touched. Idempotent.
  void Stop();

 private:
  void FollowLoop();

  const KafkaLogOptions options_;
  const KafkaTopicNames names_;
  const uint32_t partitions_;
  GroupCommit* const durable_;

  std::unique_ptr<KafkaClient> client_;
  rd_kafka_queue_t* queue_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perfledger
