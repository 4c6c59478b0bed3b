#include "projections/incremental_folder.h"

#include <utility>

#include "ledger/status_macros.h"

namespace perfledger::projections {

IncrementalFolder::IncrementalFolder(FoldContext context, size_t batch_events)
    : Folder(std::move(context)), batch_events_(batch_events) {}

void IncrementalFolder::Reset(const LogEnds& committed) {
  Discard();
  folded_ = committed;
}

absl::Status IncrementalFolder::Fold(Batch& batch) {
  ViewSet& views = *context_.views;
  families_ = views.Families();
  std::vector<ViewRows> rows(views.size());
  std::vector<size_t> bytes_put(views.size());
  read_back_.resize(views.size());
  absl::Status s = views.Apply(
      batch, families_, [&](size_t i, ViewTxnOptions& txn) { txn.read_back = &read_back_[i]; },
      rows, bytes_put);
  if (!s.ok()) {
    Discard();
    return s;
  }
  rows_.resize(views.size());
  for (size_t i = 0; i < views.size(); i++) rows_[i].push_back(std::move(rows[i]));
  applied_ = batch.to;
  events_ = batch.size();
  return absl::OkStatus();
}

absl::Status IncrementalFolder::Commit() {
  ViewSet& views = *context_.views;
  // Counted ahead of the commit that publishes the positions, so that a caller who saw them
  // caught up also sees the count.
  *context_.events_applied += events_;
  absl::Status s =
      views.Write(rows_, families_, context_.committed(), applied_, CommitMode::kWriteBatch);
  if (!s.ok()) {
    *context_.events_applied -= events_;
    Discard();
    return s;
  }
  views.RefreshCaches(rows_, read_back_);
  context_.publish(applied_);
  folded_ = applied_;
  events_ = 0;
  return absl::OkStatus();
}

void IncrementalFolder::Discard() {
  for (PendingRows& r : rows_) r.clear();
  for (ReadBackKeys& k : read_back_) k.clear();
  events_ = 0;
}

}  // namespace perfledger::projections
