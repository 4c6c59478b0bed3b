// The append-only event log: the one source of truth. Two backends implement it: the embedded
// log on RocksDB (embedded_log.h, the default) and Apache Kafka (kafka_log.h).
//
// Thread safety: every method may be called from any thread concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "ledger/types.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/ledger.pb.h"

namespace perfledger {

// Called exactly once per Append: with the positions of the appended events (in the order
// given) once they are durable, or with the error that kept all of them out of the log.
using AppendDone = std::function<void(absl::StatusOr<std::vector<LogPosition>>)>;

// The envelopes of one Append, shared between the caller and the log: the log seals them in
// place and the caller folds the very same envelopes once they are durable, so each envelope
// is built once.
using AppendBatch = std::shared_ptr<std::vector<v1::Envelope>>;

// What every backend refuses before queueing an append: more than limits::kBatchEventsMax
// events (RESOURCE_EXHAUSTED) or an event routed to a partition the log does not have
// (INVALID_ARGUMENT naming position.partition). `partitions` counts the control partition.
absl::Status CheckAppendBatch(const std::vector<v1::Envelope>& events, uint32_t partitions);

// What every backend's Read refuses: a partition the log does not have (INVALID_ARGUMENT naming
// `partition`). `partitions` counts the control partition.
absl::Status CheckReadPartition(PartitionId partition, uint32_t partitions);

// A stored event as the API shows it: the envelope, and its payload parsed (DATA_LOSS naming
// the position when the payload does not parse).
absl::Status DecodeRecorded(const StoredEvent& stored, v1::RecordedEvent* out);

// What a log says about itself (Log.Status), read at one moment.
struct LogSummary {
  struct Partition {
    Offset end;           // as Ends()
    uint64_t events = 0;  // events in the partition: the end where offsets are contiguous,
                          // fewer on Kafka, whose transaction markers take offsets too
    std::string tip;      // as ChainTips()
  };
  std::vector<Partition> partitions;  // partitions() of them
  uint64_t appends = 0;        // appends accepted since the log opened (0 on a read replica)
  uint64_t group_commits = 0;  // durable writes they were grouped into: an fsync of the
                               // embedded log, a transaction on Kafka
};

class EventLog {
 public:
  virtual ~EventLog() = default;

  // "embedded" or "kafka".
  virtual std::string_view backend() const = 0;

  // Data partitions (1..data_partitions()); partition 0 is the control stream. Counts stay
  // integers; a partition itself is a PartitionId.
  virtual uint32_t data_partitions() const = 0;
  uint32_t partitions() const { return data_partitions() + 1; }

  // Appends `events` atomically: all become durable and visible together, or none does.
  // Each envelope must carry position.partition; the log seals each one in place: it sets
  // sequence, recorded_at, payload_sha256, prev_hash and hash (the writer owns the chain) and,
  // where it knows it already, position.offset. The caller does not touch the envelopes until
  // `done` runs; from then on they are the caller's again, sealed, and `done`'s positions say
  // where they are. Appends are ordered as their calls: an Append that returns before another
  // starts precedes it in the log, and `done` callbacks run in that order, on a log thread (or
  // inline if the log is closed or failed). Errors: UNAVAILABLE when the log is closed or a
  // previous write failed (the log refuses writes until reopened, so no gap can follow a lost
  // write); RESOURCE_EXHAUSTED when the batch exceeds limits::kBatchEventsMax or kBatchBytesMax.
  virtual void Append(AppendBatch events, AppendDone done) = 0;
  // The same, for a caller that has no use for the sealed envelopes.
  void Append(std::vector<v1::Envelope> events, AppendDone done) {
    Append(std::make_shared<std::vector<v1::Envelope>>(std::move(events)), std::move(done));
  }

  // Up to `max_events` events of `partition` with offset >= `from`, in order, each with its
  // position. Only durable events are returned. An empty vector means none (yet).
  virtual absl::StatusOr<std::vector<StoredEvent>> Read(PartitionId partition, Offset from,
                                                        size_t max_events) = 0;

  // Read, but the events are appended to `out` as messages owned by `arena`. A projector reads
  // thousands of events per batch, each envelope a dozen strings: built on an arena they cost
  // no allocation each, and are freed together with it. `bytes` gets, for each event, its
  // serialized envelope as the log stores it (also on the arena), or an empty view when the log
  // does not store it as is. The default moves Read's events onto the heap, hands them to the
  // arena, and gives no bytes.
  virtual absl::Status ReadOnArena(PartitionId partition, Offset from, size_t max_events,
                                   google::protobuf::Arena& arena, std::vector<StoredEvent*>& out,
                                   std::vector<std::string_view>& bytes);

  // The end (next offset) of every partition; partitions() of them.
  virtual LogEnds Ends() = 0;

  // Blocks until Ends() differs from `seen` in some partition, the deadline passes or the log
  // closes; returns the ends at that moment.
  virtual LogEnds WaitForAppend(const LogEnds& seen, absl::Time deadline) = 0;

  // The hash of the last event of each partition (GenesisHash() when empty).
  virtual std::vector<std::string> ChainTips() = 0;

  // Ends, event counts, tips and write counters. The default suits a log whose offsets are
  // contiguous and that counts no writes: events = end, counters 0.
  virtual LogSummary Summary();

  // After a failed write the log refuses writes. A backend that can recover on its own (Kafka:
  // a new producer, chain tips re-read from the broker) then holds writes instead: appends still
  // fail with UNAVAILABLE until the owner has refolded its write-side state from the log (a
  // failed group's outcome may be unknown, so the log, not memory, says what was written) and
  // calls ResumeWrites(). The embedded log never recovers on its own (it is reopened).
  virtual bool WritesHeld() { return false; }
  virtual void ResumeWrites() {}

  // Stops the log: appends already queued still complete, later ones fail with UNAVAILABLE;
  // every waiter wakes. Idempotent.
  virtual void Close() = 0;
};

// Appends and waits for the outcome.
absl::StatusOr<std::vector<LogPosition>> AppendAndWait(EventLog& log,
                                                       std::vector<v1::Envelope> events);

}  // namespace perfledger
