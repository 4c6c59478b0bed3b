#include "projections/bulk_folder.h"

#include <utility>

#include "ledger/logging.h"
#include "ledger/status_macros.h"

namespace perfledger::projections {

BulkFolder::BulkFolder(FoldContext context, size_t batch_events, size_t bytes_max,
                       std::string ingest_thread_name)
    : Folder(std::move(context)),
      batch_events_(batch_events),
      bytes_max_(bytes_max),
      ingest_thread_name_(std::move(ingest_thread_name)) {
  Clear();
}

BulkFolder::~BulkFolder() { Settle(); }

void BulkFolder::Reset(const LogEnds& committed) {
  // Nothing is in flight here: the projector settles its folders first.
  PL_CHECK(!flight_);
  Clear();
  folded_ = committed;
}

absl::Status BulkFolder::Fold(Batch& batch) {
  if (flight_ && flight_->done) {
    // The ingest landed: its rows are in the store; free them.
    if (absl::Status s = FinishIngest(); !s.ok()) {
      Discard();
      return s;
    }
  }
  ViewSet& views = *context_.views;
  families_ = views.Families();
  // Each batch adds to the rows of the earlier batches: a view reads them through its ViewTxn,
  // and those an ingest is writing.
  std::vector<ViewRows> rows(views.size());
  std::vector<size_t> bytes_put(views.size());
  absl::Status s = views.Apply(
      batch, families_,
      [&](size_t i, ViewTxnOptions& txn) {
        txn.read_back = &read_back_[i];
        txn.pending = &rows_[i];
        txn.ingesting = flight_ ? &flight_->rows[i] : nullptr;
      },
      rows, bytes_put);
  if (!s.ok()) {
    // The kept rows now hold part of this batch: they are dropped, and the retry folds again
    // from the last commit.
    Discard();
    return s;
  }
  folded_ = batch.to;
  for (size_t i = 0; i < views.size(); i++) {
    if (!rows[i].empty()) rows_[i].push_back(std::move(rows[i]));
  }
  *context_.events_applied += batch.size();
  events_ += batch.size();
  for (size_t b : bytes_put) bytes_ += b;
  return absl::OkStatus();
}

absl::Status BulkFolder::Commit() {
  if (bytes_ < bytes_max_) return absl::OkStatus();
  // Written and ingested by another thread while the fold goes on (one ingest at a time).
  if (absl::Status s = FinishIngest(); !s.ok()) {
    Discard();
    return s;
  }
  StartIngest();
  return absl::OkStatus();
}

absl::Status BulkFolder::Flush() {
  absl::Status s = FinishIngest();
  if (s.ok()) {
    // Flush may come with no batch folded since the fold started: look the families up here.
    s = context_.views->Write(rows_, context_.views->Families(), context_.committed(), folded_,
                              CommitMode::kIngest);
  }
  if (!s.ok()) {
    Discard();
    return s;
  }
  context_.views->RefreshCaches(rows_, read_back_);
  context_.publish(folded_);
  Clear();
  return absl::OkStatus();
}

void BulkFolder::Discard() {
  // An ingest in flight lands or fails first: the fold resumes from whichever checkpoint that
  // leaves.
  FinishIngest().IgnoreError();
  // events_applied counted the discarded batches; they will be counted again.
  *context_.events_applied -= events_;
  Clear();
  folded_ = context_.committed();
}

void BulkFolder::Settle() { FinishIngest().IgnoreError(); }

void BulkFolder::Clear() {
  const size_t n = context_.views->size();
  rows_.assign(n, {});
  read_back_.assign(n, {});
  bytes_ = 0;
  events_ = 0;
}

void BulkFolder::StartIngest() {
  PL_CHECK(!flight_);
  flight_ = std::make_unique<Flight>();
  Flight* f = flight_.get();
  f->rows = std::move(rows_);
  f->read_back = std::move(read_back_);
  f->applied = folded_;
  f->events = events_;
  Clear();
  f->thread = std::thread([this, f, families = families_, started = context_.committed()] {
    NameThisThread(ingest_thread_name_);
    f->status = context_.views->Write(f->rows, families, started, f->applied, CommitMode::kIngest);
    if (f->status.ok()) context_.publish(f->applied);
    f->done = true;
  });
}

absl::Status BulkFolder::FinishIngest() {
  if (!flight_) return absl::OkStatus();
  flight_->thread.join();
  absl::Status s = flight_->status;
  if (s.ok()) {
    context_.views->RefreshCaches(flight_->rows, flight_->read_back);
  } else {
    // Counted when folded; they will be folded and counted again.
    *context_.events_applied -= flight_->events;
  }
  flight_.reset();
  return s;
}

}  // namespace perfledger::projections
