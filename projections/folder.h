// Folder: one way of folding a projector's batches into its views and committing them with the
// checkpoint. The projector (projector.h) reads the batches, parses them and tells its
// BatchObserver; a folder applies them and decides how and when they reach the store:
// IncrementalFolder (incremental_folder.h) commits each batch in one WriteBatch, BulkFolder
// (bulk_folder.h) keeps many batches' rows in memory and ingests them as SST files. The
// projector switches between them by its lag (ProjectorOptions::bulk_lag_events).
//
// Thread safety: a folder is driven by the projector thread (and by Rebuild once that thread
// stopped); the calls below are never concurrent.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "ledger/event_log.h"
#include "projections/batch.h"
#include "projections/view_set.h"

namespace perfledger::projections {

// What both folders share with their projector. Everything pointed to outlives the folders.
struct FoldContext {
  ViewSet* views = nullptr;
  // The projector's committed positions (its stored checkpoint); thread-safe.
  std::function<LogEnds()> committed;
  // Makes `applied` the committed positions once its rows and checkpoint are in the store,
  // and wakes whoever waits for them; thread-safe (a bulk fold's ingest thread calls it).
  std::function<void(const LogEnds& applied)> publish;
  // Events folded since the projector started; a folder takes back what it discards.
  std::atomic<uint64_t>* events_applied = nullptr;
};

class Folder {
 public:
  virtual ~Folder() = default;

  // Events per batch for this folder.
  virtual size_t batch_events() const = 0;
  // True when the projector reads the next batch while this folder folds one.
  virtual bool reads_ahead() const = 0;
  // Positions folded into the views: the committed ones, and in bulk folding also the batches
  // kept in memory. The next batch starts here.
  const LogEnds& folded() const { return folded_; }

  // Starts over at `committed` (a checkpoint just loaded, reset or reached by the other folder)
  // with nothing folded and uncommitted.
  virtual void Reset(const LogEnds& committed) = 0;

  // Applies `batch` (starting at folded(), not empty, payloads parsed) to every view. The rows
  // wait for Commit or Flush. On error nothing of the batch stays (Discard ran) and the
  // first failing view's error is returned.
  virtual absl::Status Fold(Batch& batch) = 0;
  // Commits what is due after a Fold: the incremental folder its batch, in one WriteBatch; the
  // bulk folder the batches kept so far once they reach their byte budget (an ingest on a
  // thread of its own). On error the uncommitted batches are discarded (they are folded again
  // from the committed checkpoint) and the store's error is returned.
  virtual absl::Status Commit() = 0;
  // Commits everything folded, and waits for it. On error as Commit.
  virtual absl::Status Flush() = 0;
  // Forgets everything folded and not committed, so that the fold resumes at the committed
  // checkpoint (after an error, or when the observer refused a batch).
  virtual void Discard() = 0;
  // Waits for a commit still in flight (the projector thread stopped): it lands, or not, by
  // the time this returns.
  virtual void Settle() = 0;

 protected:
  explicit Folder(FoldContext context) : context_(std::move(context)) {}

  FoldContext context_;
  LogEnds folded_;
};

}  // namespace perfledger::projections
