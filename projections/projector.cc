#include "projections/projector.h"

#include <chrono>
#include <utility>

#include <openssl/evp.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "projections/apply_pool.h"
#include "projections/batch.h"
#include "projections/bulk_folder.h"
#include "projections/incremental_folder.h"
#include "projections/keys.h"
#include "projections/view_set.h"

namespace perfledger::projections {

std::string ViewFamily(std::string_view view_name) {
  return absl::StrCat("view.", std::string(view_name));
}

std::vector<std::string> Projector::Families(const std::vector<std::unique_ptr<View>>& views) {
  std::vector<std::string> out = {kMetaFamily};
  for (const auto& v : views) out.push_back(ViewFamily(v->name()));
  return out;
}

void Projector::AddFamilies(const std::vector<std::unique_ptr<View>>& views,
                            StateStoreOptions& options) {
  for (const std::string& f : Families(views)) options.families.push_back(f);
  for (const auto& v : views) {
    if (v->large_values()) options.blob_families.insert(ViewFamily(v->name()));
  }
}

absl::StatusOr<std::unique_ptr<Projector>> Projector::Start(EventLog* log, StateStore* store,
                                                            std::vector<std::unique_ptr<View>> views,
                                                            ProjectorOptions options) {
  for (const std::string& f : Families(views)) {
    if (store->family(f) == nullptr) {
      return absl::InternalError(absl::StrCat("state store has no family ", f));
    }
  }
  auto p = std::unique_ptr<Projector>(new Projector());
  p->log_ = log;
  p->store_ = store;
  p->options_ = std::move(options);
  const std::string& name = p->options_.name;
  p->pool_ = std::make_unique<ApplyPool>(absl::StrCat("pl-", name, "-apply"),
                                         p->options_.apply_threads,
                                         p->options_.parallel_min_events);
  p->views_ = std::make_unique<ViewSet>(store, name, kMetaFamily, std::move(views), p->pool_.get());
  p->reader_ = std::make_unique<BatchReader>(log, absl::StrCat("pl-", name, "-read"));
  FoldContext context;
  context.views = p->views_.get();
  context.committed = [raw = p.get()] { return raw->Applied(); };
  context.publish = [raw = p.get()](const LogEnds& applied) { raw->Publish(applied); };
  context.events_applied = &p->events_applied_;
  p->incremental_ = std::make_unique<IncrementalFolder>(context, p->options_.batch_events);
  p->bulk_ = std::make_unique<BulkFolder>(context, p->options_.bulk_batch_events,
                                          p->options_.bulk_bytes,
                                          absl::StrCat("pl-", name, "-ingest"));
  RETURN_IF_ERROR(p->LoadCheckpoint());
  p->thread_ = std::thread([raw = p.get()] { raw->Run(); });
  return p;
}

Projector::Projector() = default;

Projector::~Projector() { Stop(); }

void Projector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  applied_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The projector thread is gone: an ingest it started lands (or not) by the time Stop returns.
  if (bulk_) bulk_->Settle();
}

absl::Status Projector::LoadCheckpoint() {
  applied_ = LogEnds(log_->partitions());
  rocksdb::ColumnFamilyHandle* meta = store_->family(kMetaFamily);
  for (PartitionId p : applied_.partitions()) {
    std::string value;
    rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(), meta, CheckpointKey(options_.name, p), &value);
    if (s.ok()) {
      applied_[p] = Offset(GetBigEndian64(value));
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "read projector checkpoint");
    }
  }
  bulk_->Reset(applied_);
  incremental_->Reset(applied_);
  folder_ = incremental_.get();
  return absl::OkStatus();
}

void Projector::Run() {
  NameThisThread(absl::StrCat("pl-", options_.name));
  LogEnds seen;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    seen = log_->Ends();
    absl::StatusOr<size_t> applied;
    {
      std::shared_lock<std::shared_mutex> families(families_mu_);
      applied = Step();
    }
    if (!applied.ok() && absl::IsUnavailable(applied.status())) {
      // The log (or the reactor's appends) is temporarily unavailable: retry the same batch.
      LogWarning(absl::StrCat("projector ", options_.name, " retrying: ",
                              applied.status().ToString()));
      std::unique_lock<std::mutex> lock(mu_);
      applied_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; });
      continue;
    }
    if (!applied.ok()) {
      LogError(absl::StrCat("projector ", options_.name, " stopped: ",
                            applied.status().ToString()));
      std::lock_guard<std::mutex> lock(mu_);
      failed_ = applied.status();
      applied_cv_.notify_all();
      return;
    }
    // Nothing to apply: sleep until the log grows (bounded, so Stop is noticed promptly). Then, as
    // after a small batch, linger a moment so that a trickle of single commands is applied a
    // few at a time: a batch costs a log read and a WriteBatch whatever its size, and that CPU
    // competes with the appends' own commit path.
    const bool grew =
        *applied > 0 || log_->WaitForAppend(seen, absl::Now() + absl::Milliseconds(200)) != seen;
    if (grew && *applied < options_.linger_below_events &&
        options_.linger > absl::ZeroDuration()) {
      std::unique_lock<std::mutex> lock(mu_);
      applied_cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.linger),
                           [&] { return stop_; });
    }
  }
}

absl::StatusOr<size_t> Projector::Step() {
  const LogEnds ends = log_->Ends();
  const bool bulk_allowed = options_.bulk_lag_events > 0 &&
                            (options_.observer == nullptr || options_.observer->AllowsBulk());
  if (folder_ == incremental_.get() && bulk_allowed &&
      EventsBetween(folder_->folded(), ends) >= options_.bulk_lag_events) {
    bulk_->Reset(folder_->folded());
    folder_ = bulk_.get();
  }

  // 1. The batch: read ahead while the previous one was folded, or read now.
  ASSIGN_OR_RETURN(Batch batch, reader_->Read(folder_->folded(), ends, folder_->batch_events()));
  if (batch.empty()) {
    // A bulk fold that cannot go on (the log's end, or events waiting for the control stream)
    // commits what it folded.
    RETURN_IF_ERROR(EndBulk());
    return size_t{0};
  }
  // The next batch is read while this one folds, if the folder asks for it. Whatever leaves
  // this function first, the reader is joined.
  if (folder_->reads_ahead()) reader_->StartReadAhead(batch.to, ends, folder_->batch_events());
  absl::Cleanup join_reader = [this] { reader_->FinishReadAhead(); };

  // 2. The payloads, parsed here rather than by the reader (see ParsePayloads).
  if (absl::Status s = ParsePayloads(batch, *pool_); !s.ok()) {
    folder_->Discard();
    return s;
  }

  // 3. Fold the batch into every view, between the observer's two calls.
  BatchObserver* observer = options_.observer.get();
  if (observer != nullptr) observer->OnBatchStart();
  RETURN_IF_ERROR(folder_->Fold(batch));
  if (observer != nullptr) {
    if (absl::Status s = observer->BeforeCommit(); !s.ok()) {
      folder_->Discard();
      return s;
    }
  }

  // 4. Commit: batch by batch, or a bulk fold's rows once they reach their budget; a bulk fold
  //    whose next batch would not be full is at the log's end and goes back to batch by batch.
  if (folder_ == bulk_.get() && EventsBetween(batch.to, log_->Ends()) < folder_->batch_events()) {
    RETURN_IF_ERROR(EndBulk());
  } else {
    RETURN_IF_ERROR(folder_->Commit());
  }
  return batch.size();
}

absl::Status Projector::EndBulk() {
  if (folder_ != bulk_.get()) return absl::OkStatus();
  RETURN_IF_ERROR(bulk_->Flush());
  incremental_->Reset(bulk_->folded());
  folder_ = incremental_.get();
  return absl::OkStatus();
}

void Projector::Publish(const LogEnds& applied) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied_ = applied;
  }
  applied_cv_.notify_all();
}
LogEnds Projector::Applied() {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_;
}

uint64_t Projector::Lag() {
  const LogEnds ends = log_->Ends();
  return EventsBetween(Applied(), ends);
}

absl::Status Projector::WaitFor(const std::vector<LogPosition>& positions, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  for (const LogPosition& pos : positions) {
    if (!applied_.contains(pos.partition)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("min_position.partition: %d is not a partition", pos.partition));
    }
  }
  auto done = [&] {
    if (!failed_.ok() || stop_) return true;
    for (const LogPosition& pos : positions) {
      if (applied_[pos.partition] <= pos.offset) return false;
    }
    return true;
  };
  if (!applied_cv_.wait_until(lock, absl::ToChronoTime(deadline), done)) {
    return absl::DeadlineExceededError("min_position: the views did not reach it in time");
  }
  return failed_;
}

LogEnds Projector::WaitForChange(const LogEnds& seen, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  applied_cv_.wait_until(lock, absl::ToChronoTime(deadline),
                         [&] { return applied_ != seen || stop_ || !failed_.ok(); });
  return applied_;
}

absl::Status Projector::WaitCaughtUp(absl::Time deadline) {
  const LogEnds ends = log_->Ends();
  std::vector<LogPosition> positions;
  for (PartitionId p : ends.partitions()) {
    if (ends[p] == Offset(0)) continue;
    positions.push_back({p, ends[p] - 1});
  }
  return WaitFor(positions, deadline);
}

absl::Status Projector::Rebuild(absl::Time deadline) {
  rebuilding_ = true;
  absl::Cleanup done = [this] { rebuilding_ = false; };
  Stop();
  {
    std::unique_lock<std::shared_mutex> families(families_mu_);
    for (const auto& v : views_->views()) {
      RETURN_IF_ERROR(store_->DropAndRecreate(ViewFamily(v->name())));
    }
    views_->ClearCaches();
    // The meta family is shared with other projectors: delete only this one's checkpoint.
    rocksdb::WriteBatch batch;
    for (PartitionId p : AllPartitions(log_->partitions())) {
      batch.Delete(store_->family(kMetaFamily), CheckpointKey(options_.name, p))
          .PermitUncheckedError();
    }
    RETURN_IF_ERROR(store_->Write(&batch, "reset checkpoint"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied_ = LogEnds(log_->partitions());
    failed_ = absl::OkStatus();
    stop_ = false;
  }
  // The projector thread stopped: nothing folded survives the dropped families.
  reader_->Reset();
  bulk_->Reset(Applied());
  incremental_->Reset(Applied());
  folder_ = incremental_.get();
  events_applied_ = 0;
  thread_ = std::thread([this] { Run(); });
  return WaitCaughtUp(deadline);
}

absl::StatusOr<std::vector<ViewDigest>> Projector::Digests() {
  std::shared_lock<std::shared_mutex> families(families_mu_);
  std::vector<ViewDigest> out;
  for (const auto& v : views_->views()) {
    ViewDigest d;
    d.view = std::string(v->name());
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    std::unique_ptr<rocksdb::Iterator> it(store_->db()->NewIterator(
        rocksdb::ReadOptions(), store_->family(ViewFamily(v->name()))));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      // Length-prefixed, so ("ab","c") and ("a","bc") differ.
      std::string lengths;
      PutBigEndian32(lengths, static_cast<uint32_t>(it->key().size()));
      PutBigEndian32(lengths, static_cast<uint32_t>(it->value().size()));
      EVP_DigestUpdate(ctx, lengths.data(), lengths.size());
      EVP_DigestUpdate(ctx, it->key().data(), it->key().size());
      EVP_DigestUpdate(ctx, it->value().data(), it->value().size());
      d.rows++;
    }
    absl::Status status = FromRocks(it->status(), "digest view");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    RETURN_IF_ERROR(status);
    d.digest_hex = ToHex(std::string_view(reinterpret_cast<const char*>(md), len));
    out.push_back(std::move(d));
  }
  return out;
}

absl::Status Projector::health() {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

rocksdb::ColumnFamilyHandle* Projector::Reader::family(std::string_view view_name) const {
  return projector_->store_->family(ViewFamily(view_name));
}

}  // namespace perfledger::projections
