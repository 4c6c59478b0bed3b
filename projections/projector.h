// The projector runtime (DESIGN §5): one thread reads the log from its checkpoint, applies
// batches of events to every view, and writes the views' changes and the new per-partition
// checkpoint in ONE WriteBatch (far behind the log, in one atomic ingest of SST files: see
// ProjectorOptions::bulk_lag_events). A crash therefore never applies an event twice or skips
// one: on restart the projector resumes at the checkpoint that was written with the last batch.
//
// Ordering: the control stream (partition 0) is applied first; a data event waits until the
// control stream has been applied up to its envelope's control_version (DESIGN §3 rule 4), so
// any interleaving of the same log gives the same views.
//
// Thread safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/event_log.h"
#include "ledger/limits.h"
#include "ledger/state_store.h"
#include "perfledger/v1/common.pb.h"
#include "perfledger/v1/events.pb.h"
#include "projections/apply_pool.h"
#include "projections/view.h"

namespace perfledger::projections {

struct ProjectorOptions {
  // Names this projector's checkpoint; several projectors (the views, the policy reactor) share
  // one state store.
  std::string name = "views";
  // Events applied per WriteBatch (bounded memory; larger batches rebuild faster).
  size_t batch_events = 4096;
  // Threads that fold a batch into the views (each view is folded by one thread; the projector
  // thread is one of them, the others are started with the projector as pl-<name>-apply), used
  // for batches of at least parallel_min_events events: below that, waking them costs more
  // than it saves.
  size_t apply_threads = 2;
  size_t parallel_min_events = 512;
  // After waking for new events, or after a batch smaller than linger_below_events, wait this
  // long before the next batch: fewer, larger batches under a trickle of single commands, at
  // the price of this much more delay before they are visible.
  absl::Duration linger = absl::Milliseconds(2);
  size_t linger_below_events = 64;
  // Bulk folding, for a projector far behind the log (a rebuild, a replay into a scratch
  // store, a first start): at a lag of at least bulk_lag_events (0: never), batches are folded
  // one after the other into rows kept in memory, and written together with the checkpoint
  // as SST files ingested in one atomic step (StateStore::Ingest) once bulk_bytes of rows
  // were written (by a thread of its own while the fold goes on, one ingest at a time) or the
  // fold nears the log's end. That skips the memtable inserts, most of a rebuild's cost, and a
  // row rewritten many times is written once; the next batch is read while one is folded.
  // Rows become visible to queries (and Applied() moves) only at those ingests. Never for a
  // projector with before_commit or on_batch_start (the reactor decides and appends batch by
  // batch).
  uint64_t bulk_lag_events = limits::kProjectorBulkLagEventsMin;
  size_t bulk_bytes = limits::kProjectorBulkBytesMax;
  // Events per batch in bulk folding: larger batches cost less per event, and nobody waits for
  // a batch's rows (they become visible at the next ingest anyway).
  size_t bulk_batch_events = limits::kProjectorBulkBatchEvents;
  // Runs after a batch was applied and before its rows and checkpoint are written. An error
  // discards the batch; UNAVAILABLE retries it after a pause, anything else stops the projector.
  // The policy reactor appends its decisions here, so a crash can only repeat a decision
  // (deduplicated by its derived id), never lose one.
  std::function<absl::Status()> before_commit;
  // Runs before a batch is applied (the reactor clears its undecided reactions).
  std::function<void()> on_batch_start;
};

struct ViewDigest {
  std::string view;
  std::string digest_hex;
  uint64_t rows = 0;
};

class Projector {
 public:
  static inline constexpr char kMetaFamily[] = "projector";

  // Column families the state store must open for the projector and `views` (the shared meta
  // family first).
  static std::vector<std::string> Families(const std::vector<std::unique_ptr<View>>& views);
  // Adds Families(views) to `options`, and marks the families of large_values() views as blob
  // families.
  static void AddFamilies(const std::vector<std::unique_ptr<View>>& views,
                          StateStoreOptions& options);

  // Starts the projector thread. `log` and `store` must outlive it.
  static absl::StatusOr<std::unique_ptr<Projector>> Start(
      EventLog* log, StateStore* store, std::vector<std::unique_ptr<View>> views,
      ProjectorOptions options = {});
  ~Projector();

  // Next offset per partition applied to every view (and committed).
  LogEnds Applied();
  // Events folded since the start; in bulk folding, ahead of Applied() until the next ingest.
  uint64_t events_applied() const { return events_applied_.load(); }

  // Events between the applied positions and the log's end.
  uint64_t Lag();
  // True while Rebuild replays the log (its lag then says how far the replay has to go).
  bool rebuilding() const { return rebuilding_.load(); }

  // Waits until every position in `positions` is applied (offset < applied end), the
  // deadline passes (DEADLINE_EXCEEDED) or the projector failed (its error).
  absl::Status WaitFor(const std::vector<v1::Position>& positions, absl::Time deadline);

  // Waits until the applied positions differ from `seen`, the deadline passes or the projector
  // stops; returns the applied positions then (followers poll with it).
  LogEnds WaitForChange(const LogEnds& seen, absl::Time deadline);

  // Waits until the projector has applied everything the log held when called.
  absl::Status WaitCaughtUp(absl::Time deadline);

  // Drops every view and the checkpoint and replays the log from offset 0; returns when the
  // replay reached the log's end as of the call.
  absl::Status Rebuild(absl::Time deadline);

  // SHA-256 over each view's rows in key order (equal logs → equal digests).
  absl::StatusOr<std::vector<ViewDigest>> Digests();

  // The first error that stopped the projector, or OK.
  absl::Status health();

  // Stops the projector thread (idempotent); the views stay readable through their owner.
  void Stop();

  // A consistent read of the views: holds off a rebuild (which drops the column families)
  // while alive. Queries take one per call.
  class Reader {
   public:
    rocksdb::DB* db() const { return projector_->store_->db(); }
    // The view's family; never null for a view this projector runs.
    rocksdb::ColumnFamilyHandle* family(std::string_view view_name) const;
   private:
    friend class Projector;
    explicit Reader(Projector* p) : projector_(p), lock_(p->families_mu_) {}
    Projector* projector_;
    std::shared_lock<std::shared_mutex> lock_;
  };
  Reader Read() { return Reader(this); }

 private:
  Projector() = default;
  void Run();
  absl::Status LoadCheckpoint();
  // Events read from the log to be folded together: up to batch_events events from `from` on
  // (the control stream first); `to` is where the batch ends. ReadBatch reads the envelopes,
  // ParsePayloads then parses their payloads into `events`.
  struct Batch {
    LogEnds from, to;
    // Owns every message below: a batch is built and freed in bulk (EventLog::ReadOnArena).
    // Behind a pointer so that a Batch moves.
    std::unique_ptr<google::protobuf::Arena> arena;
    std::vector<StoredEvent*> stored;
    std::vector<v1::Event*> events;
    std::vector<std::string_view> bytes;  // each envelope as stored, if the log gives it
  };
  absl::StatusOr<Batch> ReadBatch(const LogEnds& from, const LogEnds& ends, size_t events);
  // Parses the batch's payloads onto its arena, shared out among the apply pool's threads when
  // the batch is large. In bulk folding the folding threads do this, not the thread that reads the
  // next batch ahead: that keeps the reader from being the one the fold waits for, and so both
  // cores busy. DATA_LOSS naming the first event, in batch order, whose payload does not parse.
  absl::Status ParsePayloads(Batch& batch);
  // Events per batch: bulk_batch_events in bulk folding, else batch_events.
  size_t BatchEvents() const { return bulk_ ? options_.bulk_batch_events : options_.batch_events; }
  // Applies up to batch_events events; returns how many.
  absl::StatusOr<size_t> Step();
  // Writes rows[i] (view i's changes: one batch's, or a bulk fold's batches) and the
  // checkpoint `applied` in one WriteBatch, or in bulk folding as ingested files; then
  // refreshes the caches and publishes `applied`.
  absl::Status Commit(std::vector<PendingRows>& rows, std::vector<ReadBackKeys>& read_back,
                      const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                      const LogEnds& applied, bool ingest);
  // The store write of Commit: `started` is the checkpoint stored before it.
  absl::Status WriteRows(const std::vector<PendingRows>& rows,
                         const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                         const LogEnds& started, const LogEnds& applied, bool ingest);
  // Committed rows refresh the caches; `rows` and `read_back` are cleared.
  void RefreshCaches(std::vector<PendingRows>& rows, std::vector<ReadBackKeys>& read_back);
  // A bulk fold's batches so far, handed to a thread that writes and ingests them (and then
  // publishes their checkpoint) while the fold goes on; views read them until FinishIngest.
  void StartIngest(const std::vector<rocksdb::ColumnFamilyHandle*>& families);
  // Waits for the ingest in flight, if any, and returns how it went.
  absl::Status FinishIngest();
  // Back to batch by batch: waits for the ingest in flight and commits the rest of the bulk
  // fold (or discards it, on an error).
  absl::Status EndBulk(const std::vector<rocksdb::ColumnFamilyHandle*>& families);
  // Forgets the bulk fold's uncommitted batches (after an error: they are folded again).
  void DiscardBulk();
  // Empties the bulk fold's batches and counters (one empty map list per view).
  void ClearBulk();

  EventLog* log_ = nullptr;
  StateStore* store_ = nullptr;
  // Started with the projector, reused by every batch; its helpers run only what the projector
  // thread shares out.
  std::unique_ptr<ApplyPool> pool_;
  std::vector<std::unique_ptr<View>> views_;
  // Per view (View::cached_rows); touched only by the projector thread, and by Rebuild after
  // that thread stopped.
  std::vector<RowCache> caches_;
  ProjectorOptions options_;
  // Positions folded into the views: equal to applied_ except in bulk folding, where the
  // batches folded since the last ingest wait in bulk_rows_ / bulk_read_back_. Touched only
  // by the projector thread (and Rebuild after it stopped), like the caches.
  LogEnds folded_;
  bool bulk_ = false;
  std::vector<PendingRows> bulk_rows_;
  std::vector<ReadBackKeys> bulk_read_back_;
  size_t bulk_bytes_ = 0;
  uint64_t bulk_events_ = 0;
  // The batch a bulk fold read ahead (used if it starts at folded_).
  std::optional<Batch> prefetched_;
  // How long each view took to fold the last batch (Step's thread or a helper writes a view's
  // entry; Step reads them after joining the helpers).
  std::vector<int64_t> view_nanos_;
  // The bulk fold's batches being ingested by their own thread (StartIngest).
  struct Flight {
    std::vector<PendingRows> rows;
    std::vector<ReadBackKeys> read_back;
    LogEnds applied;
    uint64_t events = 0;
    std::thread thread;
    absl::Status status;
    std::atomic<bool> done{false};
  };
  std::unique_ptr<Flight> flight_;

  // Exclusive only while Rebuild drops and recreates the families.
  std::shared_mutex families_mu_;
  std::mutex mu_;
  std::condition_variable applied_cv_;
  LogEnds applied_;
  absl::Status failed_;
  bool stop_ = false;
  std::atomic<uint64_t> events_applied_{0};
  std::atomic<bool> rebuilding_{false};
  std::thread thread_;
};

}  // namespace perfledger::projections
