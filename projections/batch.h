// A batch: events read from the log to be folded together, in apply order (the control stream
// first), all parsed onto one protobuf arena and freed with it; and BatchReader, which reads
// them, one batch ahead when the folder asks for it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/arena.h"
#include "ledger/event_log.h"
#include "perfledger/v1/events.pb.h"
#include "projections/apply_pool.h"

namespace perfledger::projections {

// Events between positions `from` and `to`, all partitions together.
uint64_t EventsBetween(const LogEnds& from, const LogEnds& to);

struct Batch {
  // Where the batch starts and ends: the next offset of each partition at its start and at
  // its end.
  LogEnds from, to;
  // Owns every message below: a batch is built and freed in bulk (EventLog::ReadOnArena).
  // Behind a pointer so that a Batch moves.
  std::unique_ptr<google::protobuf::Arena> arena;
  std::vector<StoredEvent*> stored;
  // stored[i]'s payload, once ParsePayloads ran.
  std::vector<v1::Event*> events;
  std::vector<std::string_view> bytes;  // each envelope as stored, if the log gives it
  bool empty() const { return stored.empty(); }
  size_t size() const { return stored.size(); }
};

// Up to `events` events from `from` on, none past `ends`: the control stream first, then each
// data partition up to its share or its first event that waits for control events not in the
// batch (ARCHITECTURE §3 rule 4). Reads the envelopes only (ParsePayloads parses the payloads). A read
// error is returned as the log gave it.
absl::StatusOr<Batch> ReadBatch(EventLog& log, const LogEnds& from, const LogEnds& ends,
                                size_t events);

// Parses the batch's payloads onto its arena, shared out among the pool's threads when the
// batch is large. The folding threads do this rather than the thread that reads the next batch
// ahead: that keeps the reader from being the one the fold waits for, and so every core busy.
// DATA_LOSS naming the first event, in batch order, whose payload does not parse.
absl::Status ParsePayloads(Batch& batch, ApplyPool& pool);

// Reads batches for the projector thread, and the next one ahead on a thread of its own
// (pl-<name>-read, started at the first read ahead and kept) while one is folded, when the
// folder asks for it (Folder::reads_ahead): in bulk folding, reading the log is a fifth of the
// time, and the folding threads leave room for it. Not thread-safe: the projector thread alone
// uses it.
class BatchReader {
 public:
  BatchReader(EventLog* log, std::string thread_name) : log_(log), thread_name_(thread_name) {}
  // Waits for a read ahead still running and stops the thread.
  ~BatchReader();
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // The batch from `from` (see ReadBatch): the one read ahead if it starts there, else read
  // now. A batch read ahead that starts elsewhere is dropped.
  absl::StatusOr<Batch> Read(const LogEnds& from, const LogEnds& ends, size_t events);
  // Starts reading the batch from `from` on the read-ahead thread. One read ahead at a time:
  // FinishReadAhead comes before the next.
  void StartReadAhead(const LogEnds& from, const LogEnds& ends, size_t events);
  // Waits for the read ahead, if one runs, and keeps its batch for Read if it holds events (a
  // read error is left for Read to meet again).
  void FinishReadAhead();
  // Drops the batch read ahead (the log is replayed from elsewhere).
  void Reset();

 private:
  struct Job {
    LogEnds from, ends;
    size_t events = 0;
  };
  void ReadAheadLoop();

  EventLog* const log_;
  const std::string thread_name_;
  std::mutex mu_;
  std::condition_variable cv_;  // a job was asked for, a job is done, or stop_
  std::optional<Job> job_;      // asked for, not yet taken by the thread
  bool reading_ = false;        // taken, its batch not yet in next_
  bool stop_ = false;
  std::optional<absl::StatusOr<Batch>> next_;  // the last job's batch, until FinishReadAhead
  std::thread thread_;
  // Projector thread only: the batch read ahead, until Read takes it.
  std::optional<Batch> prefetched_;
};

}  // namespace perfledger::projections
