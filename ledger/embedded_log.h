// The embedded event log: RocksDB under a data directory, no Kafka needed.
//
// Layout: one column family per partition ("events.<partition>"), key = big-endian (partition
// u32, offset u64), value = the serialized Envelope (position included). Offsets are contiguous
// per partition and equal the envelope's sequence. A partition's keys only grow, so a flushed
// file of one family never overlaps an older one and compaction moves it down the levels without
// rewriting it. A "meta" family records the partition count, which cannot change, and the layout
// version. A log of the one-family layout (every partition in family "events") is copied into
// this layout when it is opened.
//
// Durability: the write path is group_commit.h's. Its committer takes every queued append (up
// to the group-commit limits) and this log writes them as ONE WriteBatch with sync=true, so
// concurrent appenders share one fsync (group commit); offsets are sequences, assigned when an
// event is sealed. An append's callback runs only after that write returns. If a write fails,
// the log refuses every later append (UNAVAILABLE) until it is reopened: offsets after a lost
// write would otherwise leave a gap in the chain.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ledger/event_log.h"
#include "ledger/group_commit.h"
#include "rocksdb/db.h"

namespace perfledger {

struct EmbeddedLogOptions {
  // Directory of the RocksDB database; created if missing.
  std::string dir;
  // Data partitions of a new log. An existing log keeps its own count (opening with a different
  // non-zero value is FAILED_PRECONDITION); 0 = whatever the log has, or the default.
  uint32_t data_partitions = 0;
  // fsync every group commit. Only tests of non-durability paths turn this off.
  bool sync = true;
};

struct EmbeddedLogStats {
  uint64_t appends = 0;
  uint64_t group_commits = 0;
  uint64_t events = 0;
};

class EmbeddedLog final : public EventLog, private GroupCommit::Sink {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedLog>> Open(const EmbeddedLogOptions& options);
  ~EmbeddedLog() override;

  std::string_view backend() const override { return "embedded"; }
  uint32_t data_partitions() const override { return data_partitions_; }
  using EventLog::Append;
  void Append(AppendBatch events, AppendDone done) override;
  absl::StatusOr<std::vector<StoredEvent>> Read(PartitionId partition, Offset from,
                                                size_t max_events) override;
  absl::Status ReadOnArena(PartitionId partition, Offset from, size_t max_events,
                           google::protobuf::Arena& arena, std::vector<StoredEvent*>& out,
                           std::vector<std::string_view>& bytes) override;
  LogEnds Ends() override;
  LogEnds WaitForAppend(const LogEnds& seen, absl::Time deadline) override;
  std::vector<std::string> ChainTips() override;
  // Ends, tips and event counts read at one moment, with the append and group-commit counters.
  LogSummary Summary() override;
  void Close() override;

  EmbeddedLogStats stats();

  // Calls `visit(offset, bytes)` with the stored bytes of each durable event of `partition` from
  // `from` on, at most `max_events`, in offset order, without parsing them (the chain
  // verifier hashes the bytes as stored; `bytes` is valid during the call only). `visit`
  // returning false stops the scan. Errors: INVALID_ARGUMENT for a partition out of range,
  // otherwise the store's.
  absl::Status ScanStored(PartitionId partition, Offset from, size_t max_events,
                          const std::function<bool(Offset, std::string_view)>& visit);

 private:
  // The tests' access to the stored bytes (tests/support/embedded_log_peer.h).
  friend class EmbeddedLogTestPeer;
  // The key of the event at `at` in its partition's family: partition and offset, big-endian,
  // so that keys sort by offset.
  static std::string StoredKey(LogPosition at);

  // Read and ScanStored: the durable events of `partition` in [from, from + max_events),
  // read with `ro` (its upper bound is set here).
  absl::Status ScanRange(PartitionId partition, Offset from, size_t max_events,
                         rocksdb::ReadOptions ro,
                         const std::function<bool(Offset, std::string_view)>& visit);

  EmbeddedLog() = default;

  // GroupCommit::Sink: an event is stored as its serialized envelope; a group is one synced
  // WriteBatch.
  absl::StatusOr<std::string> Encode(v1::Envelope& sealed) override;
  absl::Status Write(std::vector<SealedAppend>& group, GroupFailure& failure) override;

  uint32_t data_partitions_ = 0;
  bool sync_ = true;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> partition_cfs_;  // index = partition
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;

  // The write path and the durable ends; declared last, so it stops before the store closes.
  std::unique_ptr<GroupCommit> writer_;
};

}  // namespace perfledger
