// The projector runtime (ARCHITECTURE §5): one thread reads the log from its checkpoint, applies
// batches of events to every view, and writes the views' changes and the new per-partition
// checkpoint in ONE WriteBatch (far behind the log, in one atomic ingest of SST files: see
// ProjectorOptions::bulk_lag_events). A crash therefore never applies an event twice or skips
// one: on restart the projector resumes at the checkpoint that was written with the last batch.
//
// Ordering: the control stream (partition 0) is applied first; a data event waits until the
// control stream has been applied up to its envelope's control_version (ARCHITECTURE §3 rule 4), so
// any interleaving of the same log gives the same views.
//
// The projector owns the loop and the checkpoint; reading a batch is batch.h, folding it and
// committing it a Folder (folder.h): IncrementalFolder batch by batch, BulkFolder far behind
// the log. A BatchObserver (batch_observer.h) may act on each batch.
//
// Thread safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
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
#include "projections/batch_observer.h"
#include "projections/view.h"

namespace perfledger::projections {

class ApplyPool;
class BatchReader;
class BulkFolder;
class Folder;
class IncrementalFolder;
class ViewSet;

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
  // long until the next batch: fewer, larger batches under a trickle of single commands, at
  // the price of this much more delay until they are visible.
  absl::Duration linger = absl::Milliseconds(2);
  size_t linger_below_events = 64;
  // Bulk folding (bulk_folder.h), for a projector far behind the log (a rebuild, a replay into
  // a scratch store, a first start): at a lag of at least bulk_lag_events (0: never), batches
  // are folded one after the other into rows kept in memory, and written together with the
  // checkpoint as SST files ingested in one atomic step once bulk_bytes of rows were folded
  // (by a thread of its own while the fold goes on) or the fold nears the log's end. Rows
  // become visible to queries (and Applied() moves) only at those ingests. Never while an
  // observer that does not allow it watches (BatchObserver::AllowsBulk).
  uint64_t bulk_lag_events = limits::kProjectorBulkLagEventsMin;
  size_t bulk_bytes = limits::kProjectorBulkBytesMax;
  // Events per batch in bulk folding: larger batches cost less per event, and nobody waits for
  // a batch's rows (they become visible at the next ingest anyway).
  size_t bulk_batch_events = limits::kProjectorBulkBatchEvents;
  // Acts on each batch (batch_observer.h), or null. The policy reactor appends its decisions in
  // BeforeCommit, so a crash can only repeat a decision (deduplicated by its derived id), never
  // lose one.
  std::shared_ptr<BatchObserver> observer;
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
  absl::Status WaitFor(const std::vector<LogPosition>& positions, absl::Time deadline);

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
  Projector();
  void Run();
  absl::Status LoadCheckpoint();
  // Reads, folds and commits (or, in bulk folding, keeps) the next batch; returns its events.
  absl::StatusOr<size_t> Step();
  // Back to batch by batch: commits the bulk fold (or, on an error, discards it and stays in
  // bulk folding). Nothing to do when folding batch by batch.
  absl::Status EndBulk();
  // Makes `applied` the applied positions and wakes the waiters (FoldContext::publish).
  void Publish(const LogEnds& applied);

  EventLog* log_ = nullptr;
  StateStore* store_ = nullptr;
  ProjectorOptions options_;
  // Exclusive only while Rebuild drops and recreates the families.
  std::shared_mutex families_mu_;
  std::mutex mu_;
  std::condition_variable applied_cv_;
  LogEnds applied_;
  absl::Status failed_;
  bool stop_ = false;
  std::atomic<uint64_t> events_applied_{0};
  std::atomic<bool> rebuilding_{false};
  // Created by Start, in this order, and destroyed in the reverse one: the folders use the
  // views, the views the pool. Declared after the members above, which a bulk fold's ingest
  // thread uses, so that they outlive it. Touched only by the projector thread, and by Rebuild
  // after that thread stopped (the pool's helpers run only what that thread shares out).
  std::unique_ptr<ApplyPool> pool_;
  std::unique_ptr<ViewSet> views_;
  std::unique_ptr<BatchReader> reader_;
  std::unique_ptr<IncrementalFolder> incremental_;
  std::unique_ptr<BulkFolder> bulk_;
  // The folder in use: incremental_ or bulk_.
  Folder* folder_ = nullptr;
  std::thread thread_;
};

}  // namespace perfledger::projections
