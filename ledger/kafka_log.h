// The Kafka event log: the EventLog of event_log.h on Apache Kafka (librdkafka's C API).
//
// Layout. Two topics per log, named after `topic_prefix`:
//   <prefix>.control  1 partition               = log partition 0 (the control stream)
//   <prefix>.events   data_partitions partitions = log partitions 1..N (log p = Kafka p-1)
// Both are created on Open when missing, with cleanup.policy=delete and retention.ms=-1 /
// retention.bytes=-1 (compaction or retention would destroy history). Partitions of an existing
// log never change (keys would move): a mismatch is FAILED_PRECONDITION, and so is an existing
// topic whose configuration compacts or expires records.
// A record: key = envelope.partition_key (null when empty), headers "pl-type", "pl-schema"
// (decimal) and "pl-event-id", value = the serialized Envelope with `position` cleared (Kafka
// assigns the offset; Read fills position back in).
//
// Positions and ends. Offsets are Kafka offsets: they grow but have gaps (every transaction
// leaves a marker, aborted transactions leave records nobody reads). The chain uses the
// envelope's `sequence`, which is contiguous per partition. Ends()[p] is the offset after the
// last committed event of p (not Kafka's end offset, which also counts the trailing marker), so
// a reader that has read up to Ends() is caught up, exactly as with the embedded log.
//
// Writing (role kWriter). Exactly one writer per log, guaranteed by Kafka: the writer's
// transactional producer (enable.idempotence, acks=all) owns `transactional_id`; opening a
// second writer with the same id fences the first (its next append fails with
// FAILED_PRECONDITION). The write path is group_commit.h's: Append seals events under a lock
// (sequence, prev_hash, hash, recorded_at), so chain order = append order, and queues them; one
// committer thread takes the queued appends as a group (limits::kGroupCommit*, gathered for up
// to `linger`) and this log writes the group as ONE Kafka transaction: begin, produce all,
// commit. Offsets come from the delivery reports; callbacks run after the commit, in append
// order, on the committer thread.
//
// Failure handling. Any failed group makes the log refuse writes (sticky), as the embedded log
// does, and fails every append queued behind it. Re-sealing the queued appends against the
// restored chain tip would be possible at the log level but wrong one level up: the ledger
// decided them against the pending effects of the failed group (write_model.h), so they must
// not reach the log without it. Errors:
//   - UNAVAILABLE: the group was not committed (broker down, timeouts, abortable errors, a
//     fatal producer error other than fencing, such as OUT_OF_ORDER_SEQUENCE_NUMBER after a
//     leader change); its transaction is aborted by the next producer's init_transactions and
//     none of its events ever becomes visible. Bounded by append_timeout: with the broker down,
//     an append fails within 80 % of it (message.timeout.ms) and later appends fail at once.
//     The coordinator's own timeout (transaction.timeout.ms) is
//     limits::kKafkaTransactionTimeoutFactor times longer, so it never aborts a transaction
//     the writer still considers open (its abort bumps the epoch, which reads as fencing).
//   - UNAVAILABLE with "outcome unknown" in the message: every record was acknowledged and the
//     commit requested, but it did not complete within append_timeout or failed without
//     asking for an abort (NOT_LEADER_OR_FOLLOWER, a coordinator moving, a timeout; librdkafka
//     sends the commit only after all records are acknowledged, so this is the only ambiguous
//     case). The writer never aborts such a transaction: it replaces the producer, whose
//     init_transactions completes or aborts it, and whose new epoch rejects any late record
//     of the old one.
//     The events may or may not be in the log (this is the
//     one case where the EventLog contract "an error kept all of them out" cannot be kept: Kafka
//     may have committed them). Reopening resolves it: the new producer's init_transactions
//     completes or aborts the transaction and Open reads the real chain tips; readers see the
//     truth.
//   - FAILED_PRECONDITION: fenced: a newer writer owns the transactional_id (the fatal errors
//     _FENCED, PRODUCER_FENCED, INVALID_PRODUCER_EPOCH) or this one may not use it
//     (TRANSACTIONAL_ID_AUTHORIZATION_FAILED). Reopening would fence the newer writer in turn,
//     so that is left to the operator.
// After an UNAVAILABLE failure (not after FAILED_PRECONDITION) the writer recovers on its own:
// the committer replaces the producer (its init_transactions completes or aborts the failed
// transaction, so an unknown outcome becomes known) and re-reads every chain tip from Kafka,
// retrying until the broker answers, each attempt bounded by append_timeout; appends meanwhile
// fail at once with UNAVAILABLE. Then the
// log holds writes (WritesHeld) until the owner has refolded its write-side state from the log
// (the ledger's WriteModel::CatchUp) and calls ResumeWrites. A log can also be reopened (Close,
// destroy, Open): nothing is lost, Open recovers the tips from Kafka.
//
// Reading (both roles). read_committed consumers, no group, no offset commits (consumer offsets
// live with the views in RocksDB). Reads are served by a small pool of consumer handles
// ("lanes", at most limits::kKafkaReadLanesMax), each with one cursor per partition that keeps
// its fetch position and prefetch queue between calls: a sequential scan (each Read starting
// where the previous one ended) never seeks. Another position on the same partition takes a
// free cursor or reseeks the least recently used one.
//
// Read replica (role kReadReplica). Never produces (Append fails with FAILED_PRECONDITION). A
// follower thread long-polls the tails of all partitions (fetch wait = replica_poll_interval,
// at most 50 ms) and advances Ends() as committed events appear; WaitForAppend wakes on it.
// This reads new events once more than the readers do, in exchange for exact ends (the last
// committed event, not a marker) and wake-ups within one poll interval.
//
// Thread safety: every method may be called from any thread concurrently (event_log.h).
// librdkafka's callbacks run on the committer thread (delivery reports) or librdkafka's own
// threads (logging).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/event_log.h"
#include "ledger/group_commit.h"
#include "ledger/limits.h"

// librdkafka's opaque handles (rdkafka.h stays out of this header).
typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_topic_s rd_kafka_topic_t;
typedef struct rd_kafka_queue_s rd_kafka_queue_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;

namespace perfledger {

enum class KafkaRole {
  kWriter,       // owns the log: appends, fences any older writer with the same transactional_id
  kReadReplica,  // reads and follows; never produces
};

struct KafkaLogOptions {
  // bootstrap.servers, e.g. "127.0.0.1:19092". Required.
  std::string brokers;
  // Topics are "<prefix>.control" and "<prefix>.events". [A-Za-z0-9._-], at most 200 bytes.
  std::string topic_prefix = "perfledger";
  // Data partitions (the events topic's partition count). A new log is created with it; an
  // existing log must have exactly this many (FAILED_PRECONDITION otherwise). 0 = whatever the
  // existing log has, or limits::kDataPartitionsDefault for a new one.
  uint32_t data_partitions = limits::kDataPartitionsDefault;
  // Replication factor of topics this log creates (existing topics keep theirs); from 3 on,
  // min.insync.replicas is 2. 0 = one replica per broker of the cluster, at most 3.
  int replication_factor = 0;
  KafkaRole role = KafkaRole::kWriter;
  // The writer's transactional.id; empty = "<prefix>-writer". One writer per id at a time.
  std::string transactional_id;

  // Open as a whole: metadata, topic creation, init_transactions, recovery of the tips.
  absl::Duration open_timeout = absl::Seconds(30);
  // Bound on one group commit (begin, produce, commit) and on one recovery attempt;
  // message.timeout.ms is 80 % of it, transaction.timeout.ms limits::
  // kKafkaTransactionTimeoutFactor times it. 2 s..5 min.
  absl::Duration append_timeout = absl::Seconds(10);
  // How long Read waits for events that are known committed (Ends() says so) to arrive from
  // the broker before it fails with UNAVAILABLE.
  absl::Duration read_timeout = absl::Seconds(10);
  // Replica: the follower's fetch long-poll (fetch.wait.max.ms). 1..50 ms.
  absl::Duration replica_poll_interval = absl::Milliseconds(20);
  // Producer linger.ms, and how long the committer waits to gather a group as large as the
  // previous one before it starts a transaction.
  absl::Duration linger = absl::Milliseconds(2);
  // Check that existing topics neither compact nor expire records (DescribeConfigs). Only
  // librdkafka's mock cluster, which cannot describe configs, needs this off.
  bool verify_topic_configs = true;
  // Extra librdkafka properties for every client this log creates (security.protocol, debug,
  // test.mock.*, ...). Applied last, so they override the log's own settings: use with care.
  std::vector<std::pair<std::string, std::string>> librdkafka_config;
};

struct KafkaLogStats {
  uint64_t appends = 0;         // accepted appends
  uint64_t transactions = 0;    // committed group transactions
  uint64_t events = 0;          // committed events
  uint64_t cursor_hits = 0;     // reads continued on a positioned cursor
  uint64_t cursor_seeks = 0;    // reads that had to (re)position a cursor
  uint64_t recoveries = 0;      // failed writes recovered from (new producer, tips re-read)
};

class KafkaLog final : public EventLog, private GroupCommit::Sink {
 public:
  // Connects, creates or checks the topics, and (writer) initializes the transactional producer
  // (fencing any older writer with the same transactional_id and completing or aborting its
  // open transaction) and recovers each partition's chain tip, next sequence and end from the
  // last committed event (read backwards from the last stable offset past markers and aborted
  // records). Errors: INVALID_ARGUMENT (options), UNAVAILABLE (no broker within open_timeout),
  // FAILED_PRECONDITION (partition count or topic config mismatch, fatal producer error),
  // DATA_LOSS (a partition's last event does not parse, or history was deleted).
  static absl::StatusOr<std::unique_ptr<KafkaLog>> Open(const KafkaLogOptions& options);

  // Close()s, waits for queued appends to finish, stops the follower and the clients.
  ~KafkaLog() override;

  std::string_view backend() const override { return "kafka"; }
  uint32_t data_partitions() const override { return data_partitions_; }
  // Errors besides event_log.h's: FAILED_PRECONDITION on a read replica, or once fenced (see
  // "Failure handling"); RESOURCE_EXHAUSTED when one event exceeds limits::kKafkaRecordBytesMax.
  using EventLog::Append;
  void Append(AppendBatch events, AppendDone done) override;
  // Returns min(max_events, committed events at or after `from`) — it waits for events it
  // knows are committed (from < Ends()[partition]) to arrive, at most read_timeout, and
  // then fails with UNAVAILABLE if none did. Sequential calls continue a cached cursor.
  absl::StatusOr<std::vector<StoredEvent>> Read(PartitionId partition, Offset from,
                                                size_t max_events) override;
  // Writer: from its own commits. Replica: from its follower.
  LogEnds Ends() override;
  LogEnds WaitForAppend(const LogEnds& seen, absl::Time deadline) override;
  std::vector<std::string> ChainTips() override;
  // Events per partition from the sequences (offsets count transaction markers too); appends
  // and committed group transactions.
  LogSummary Summary() override;
  // See "Failure handling".
  bool WritesHeld() override;
  void ResumeWrites() override;
  // As event_log.h; queued appends still get up to append_timeout each to commit.
  void Close() override;

  KafkaRole role() const { return role_; }
  const std::string& control_topic() const { return control_topic_; }
  const std::string& events_topic() const { return events_topic_; }
  KafkaLogStats stats();

 private:
  // Client handles for one consumer ("lane") or the producer; topics indexed 0 control, 1 events.
  struct Client;
  struct Cursor;
  struct Delivery {
    int64_t offset = -1;
    int err = -1;  // rd_kafka_resp_err_t; -1 = no report yet
  };
  struct Tail {
    uint64_t end = 0;            // offset after the last committed event (0 when none)
    uint64_t next_sequence = 0;  // the next event's sequence
    std::string tip;             // hash of the last committed event (GenesisHash when none)
  };

  explicit KafkaLog(const KafkaLogOptions& options);

  // Open's steps.
  absl::Status Start();
  absl::Status EnsureTopics(absl::Time deadline);
  absl::Status CheckTopicConfigs(absl::Time deadline);
  absl::Status StartProducer(absl::Time deadline);
  // Reads the tail with `lane`'s consumer (lane 0 at Open; a fresh one when recovering, as
  // lane 0 may be serving readers then).
  absl::StatusOr<Tail> ScanTail(Client& lane, uint32_t partition, absl::Time deadline);
  absl::Status StartFollower();

  // Client creation: a consumer (read lane, follower) or the transactional producer.
  absl::StatusOr<std::unique_ptr<Client>> NewConsumer(const char* purpose, int fetch_wait_ms);

  // Writer side: GroupCommit::Sink. An event is its envelope without the position (Kafka
  // assigns the offset); a group is one transaction (CommitGroup), whose failure Write
  // classifies (see "Failure handling"); Recover is one attempt at a new producer and the tails
  // from Kafka (the committer retries it until it works or the log closes, then holds writes
  // until ResumeWrites); Idle serves the producer's queue.
  absl::StatusOr<std::string> Encode(v1::Envelope& sealed) override;
  absl::Status Write(std::vector<SealedAppend>& group, GroupFailure& failure) override;
  absl::StatusOr<std::vector<DurableTail>> Recover() override;
  void Idle() override;
  // Writes `group` as one transaction; fills the positions. On error sets *in_doubt when the
  // commit's outcome is unknown.
  absl::Status CommitGroup(std::vector<SealedAppend>& group, bool* in_doubt);
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);

  // Replica side.
  void FollowLoop();

  // Readers.
  Cursor* AcquireCursor(uint32_t partition, uint64_t from, absl::Status* error);
  void ReleaseCursor(Cursor* cursor);
  absl::Status ReadFromCursor(Cursor& c, uint32_t partition, uint64_t from, uint64_t end,
                              size_t max_events, std::vector<StoredEvent>& out);

  // Log partition → (topic index, Kafka partition).
  int TopicIndex(uint32_t partition) const { return partition == 0 ? 0 : 1; }
  int32_t KafkaPartition(uint32_t partition) const {
    return partition == 0 ? 0 : static_cast<int32_t>(partition - 1);
  }

  // Immutable after Open.
  const KafkaLogOptions options_;
  const KafkaRole role_;
  uint32_t data_partitions_ = 0;
  std::string control_topic_;
  std::string events_topic_;
  std::string transactional_id_;

  // Writer: the producer. Committer-thread only: producer_ calls, deliveries_.
  std::unique_ptr<Client> producer_;
  uint64_t group_generation_ = 0;
  std::vector<Delivery> deliveries_;
  size_t delivered_ = 0;

  // The write path (writer) and the committed ends, tips and event counts (both roles).
  std::unique_ptr<GroupCommit> durable_;

  // Replica: the follower.
  std::unique_ptr<Client> follower_;
  rd_kafka_queue_t* follower_queue_ = nullptr;
  std::atomic<bool> stop_follower_{false};
  std::thread follow_thread_;

  // Readers: lanes and their cursors (lane-major: cursors_[lane * partitions + p]).
  std::mutex readers_mu_;
  std::condition_variable readers_cv_;   // a busy cursor was released
  std::vector<std::unique_ptr<Client>> lanes_;
  std::vector<std::unique_ptr<Cursor>> cursors_;
  uint64_t read_clock_ = 0;              // LRU clock
  uint64_t cursor_hits_ = 0;
  uint64_t cursor_seeks_ = 0;
};

}  // namespace perfledger
