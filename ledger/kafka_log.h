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
// Units. This class is the facade; each role lives in a unit of its own, internal to ledger/:
//   kafka_options.h  the options and statistics (included here; rdkafka.h is not)
//   kafka_client.h   librdkafka plumbing: errors, configuration, client handles, topic layout
//   kafka_topics.h   creating and checking the topics
//   kafka_writer.h   the transactional producer (group_commit.h's Sink)
//   kafka_reader.h   the read lanes and cursors, tail scans, the replica's follower
// Open composes them: the first read lane, the topics, the writer (kWriter), the tails, the
// GroupCommit (with the writer as its Sink, or none), the follower (kReadReplica). Teardown
// stops the follower first, then the GroupCommit (its committer finishes the queued appends
// while the producer still exists), then the readers' cursors and lanes; the producer goes last.
//
// Thread safety: every method may be called from any thread concurrently (event_log.h).
// librdkafka's callbacks run on the committer thread (delivery reports) or librdkafka's own
// threads (logging).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/event_log.h"
#include "ledger/group_commit.h"
#include "ledger/kafka_options.h"

namespace perfledger {

class KafkaFollower;
class KafkaReader;
class KafkaWriter;

class KafkaLog final : public EventLog {
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
  explicit KafkaLog(const KafkaLogOptions& options);

  // Open's steps once the options are checked: composes the units (see "Units").
  absl::Status Start();

  // Immutable after Open.
  const KafkaLogOptions options_;
  const KafkaRole role_;
  uint32_t data_partitions_ = 0;
  std::string control_topic_;
  std::string events_topic_;

  // Writer: the transactional producer, the GroupCommit's Sink.
  std::unique_ptr<KafkaWriter> writer_;
  // Readers: the lanes and their cursors.
  std::unique_ptr<KafkaReader> reader_;
  // The write path (writer) and the committed ends, tips and event counts (both roles).
  std::unique_ptr<GroupCommit> durable_;
  // Replica: the follower.
  std::unique_ptr<KafkaFollower> follower_;
};

}  // namespace perfledger
