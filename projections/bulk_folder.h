// BulkFolder: folds a projector far behind the log (ProjectorOptions::bulk_lag_events: a
// rebuild, a replay into a scratch store, a first start). Batches are folded one after the
// other into rows kept in memory (one map per batch and view, PendingRows, merged as views read
// them), and written together with the checkpoint as SST files ingested in one atomic step
// (StateStore::Ingest) once bulk_bytes of rows were folded, by a thread of its own
// (pl-<name>-ingest) while the fold goes on, one ingest at a time; or on Flush, when the fold
// nears the log's end. That skips the memtable inserts, most of a rebuild's cost, and a row
// rewritten many times is written once. Rows become visible to queries (and the committed
// positions move) only at those ingests. See folder.h for the contract.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "projections/folder.h"

namespace perfledger::projections {

class BulkFolder final : public Folder {
 public:
  // `batch_events`: ProjectorOptions::bulk_batch_events; `bytes_max`: bulk_bytes; the ingest
  // thread is named `ingest_thread_name`.
  BulkFolder(FoldContext context, size_t batch_events, size_t bytes_max,
             std::string ingest_thread_name);
  // Waits for the ingest in flight, if any (Settle).
  ~BulkFolder() override;

  size_t batch_events() const override { return batch_events_; }
  // Reading the log is a fifth of a bulk fold's time, and the folding threads leave room for
  // the reader.
  bool reads_ahead() const override { return true; }
  void Reset(const LogEnds& committed) override;
  // Also frees the rows of an ingest that landed since the last batch (or, if it failed,
  // discards the fold and returns its error).
  absl::Status Fold(Batch& batch) override;
  absl::Status Commit() override;
  absl::Status Flush() override;
  void Discard() override;
  void Settle() override;

 private:
  // The batches of an ingest in flight. Views read `rows` (ViewTxnOptions::ingesting) until
  // FinishIngest; the ingest thread only reads them too.
  struct Flight {
    std::vector<PendingRows> rows;
    std::vector<ReadBackKeys> read_back;
    LogEnds applied;
    uint64_t events = 0;
    std::thread thread;
    absl::Status status;
    std::atomic<bool> done{false};
  };
  // Hands the batches folded so far to a thread that writes and ingests them, then publishes
  // their checkpoint.
  void StartIngest();
  // Waits for the ingest in flight, if any, and returns how it went; its rows refresh the
  // caches if it landed.
  absl::Status FinishIngest();
  // Empties the kept batches and their counters (one empty list per view).
  void Clear();

  const size_t batch_events_;
  const size_t bytes_max_;
  const std::string ingest_thread_name_;
  // The batches folded since the last ingest started, with what they count.
  std::vector<PendingRows> rows_;
  std::vector<ReadBackKeys> read_back_;
  size_t bytes_ = 0;
  uint64_t events_ = 0;
  // The families the last batch was folded into.
  std::vector<rocksdb::ColumnFamilyHandle*> families_;
  std::unique_ptr<Flight> flight_;
};

}  // namespace perfledger::projections
