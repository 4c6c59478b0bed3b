// IncrementalFolder: folds a projector that keeps up with the log, batch by batch: each batch's
// rows and the checkpoint it reaches are written in one WriteBatch, so queries see every batch
// as soon as it is applied. See folder.h for the contract.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "projections/folder.h"

namespace perfledger::projections {

class IncrementalFolder final : public Folder {
 public:
  // `batch_events`: ProjectorOptions::batch_events.
  IncrementalFolder(FoldContext context, size_t batch_events);

  size_t batch_events() const override { return batch_events_; }
  bool reads_ahead() const override { return false; }
  void Reset(const LogEnds& committed) override;
  absl::Status Fold(Batch& batch) override;
  absl::Status Commit() override;
  // Every batch is committed by Commit: nothing is left to flush.
  absl::Status Flush() override { return absl::OkStatus(); }
  void Discard() override;
  // Commits happen on the projector thread: none is ever in flight.
  void Settle() override {}

 private:
  const size_t batch_events_;
  // The batch folded and not committed yet: its rows (one list per view, holding the batch's
  // map once folded), its read-back keys, the families it was folded into, where it ends and
  // how many events it holds.
  std::vector<PendingRows> rows_;
  std::vector<ReadBackKeys> read_back_;
  std::vector<rocksdb::ColumnFamilyHandle*> families_;
  LogEnds applied_;
  uint64_t events_ = 0;
};

}  // namespace perfledger::projections
