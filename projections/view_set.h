// ViewSet: the views one projector folds, with their row caches; it applies a batch to all of
// them (shared out among the apply pool's threads) and writes their rows together with the
// projector's checkpoint. Both folders (folder.h) fold through it.
//
// Thread safety: used by the projector thread (and by Rebuild once that thread stopped), except
// Write, which a bulk fold's ingest thread also calls: Write reads only the store and the
// view count, which never change while the projector runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "ledger/event_log.h"
#include "ledger/state_store.h"
#include "projections/apply_pool.h"
#include "projections/batch.h"
#include "projections/view.h"

namespace perfledger::projections {

// How a commit reaches the store.
enum class CommitMode {
  // One WriteBatch through the memtables: a batch's rows, batch by batch.
  kWriteBatch,
  // SST files ingested in one atomic step (StateStore::Ingest): a bulk fold's many batches.
  kIngest,
};

// The key of projector `projector`'s checkpoint for `partition` in the meta family.
std::string CheckpointKey(const std::string& projector, PartitionId partition);

class ViewSet {
 public:
  // `store` and `pool` must outlive the set; `meta_family` holds the checkpoint of projector
  // `projector` (CheckpointKey).
  ViewSet(StateStore* store, std::string projector, std::string meta_family,
          std::vector<std::unique_ptr<View>> views, ApplyPool* pool);

  const std::vector<std::unique_ptr<View>>& views() const { return views_; }
  size_t size() const { return views_.size(); }
  // Each view's family, in view order. Valid until a rebuild drops them.
  std::vector<rocksdb::ColumnFamilyHandle*> Families() const;

  // Applies every event of `batch` (payloads parsed) to every view, then FinishBatch: view i's
  // writes go to rows[i] and their byte count to bytes_put[i] (both sized by the caller, one
  // entry per view). Each view gets a ViewTxn over its family, rows[i] and its cache; `sources`
  // adds what the folder keeps besides (read-back keys, a bulk fold's rows). Views are
  // independent (each writes only its own family), so a large batch is shared out view by view
  // among the pool's threads; each view still sees every event in log order. Returns the first
  // failing view's error in view order (the same log gives the same error), naming the view
  // and the event.
  absl::Status Apply(const Batch& batch,
                     const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                     const std::function<void(size_t view, ViewTxnOptions& txn)>& sources,
                     std::vector<ViewRows>& rows, std::vector<size_t>& bytes_put);

  // Writes rows[i] (view i's changes, oldest batch first) and the checkpoint `applied` (only
  // the partitions that moved since `started`, the checkpoint stored now) in one atomic step,
  // as `mode` says: all of it lands, or none. The store's error otherwise.
  absl::Status Write(const std::vector<PendingRows>& rows,
                     const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                     const LogEnds& started, const LogEnds& applied, CommitMode mode) const;

  // After a commit: the committed rows refresh the caches, then `rows` and `read_back` are
  // cleared (their lists stay, one per view).
  void RefreshCaches(std::vector<PendingRows>& rows, std::vector<ReadBackKeys>& read_back);
  // Empties every cache (a rebuild dropped the rows they mirror).
  void ClearCaches();

 private:
  StateStore* store_;
  std::string projector_;
  std::string meta_family_;
  std::vector<std::unique_ptr<View>> views_;
  ApplyPool* pool_;
  // Per view (View::cached_rows).
  std::vector<RowCache> caches_;
  // How long each view took to fold the last batch (written by whichever thread folded it,
  // read after ShareOut returned).
  std::vector<int64_t> view_nanos_;
};

}  // namespace perfledger::projections
