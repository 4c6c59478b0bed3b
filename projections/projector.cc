#include "projections/projector.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <openssl/evp.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "projections/keys.h"
#include "projections/pending_rows.h"

namespace perfledger::projections {
namespace {

std::string CheckpointKey(const std::string& name, uint32_t partition) {
  std::string key = absl::StrCat("cp/", name, "/");
  PutBigEndian32(key, partition);
  return key;
}

// Appends `rows` (already in key order: the final state of every key the batch touched) to
// `out`.
void AppendSorted(const ViewRows& rows, rocksdb::ColumnFamilyHandle* cf, rocksdb::WriteBatch& out) {
  for (const auto& [key, value] : rows) {
    if (value) {
      out.Put(cf, key, *value).PermitUncheckedError();
    } else {
      out.Delete(cf, key).PermitUncheckedError();
    }
  }
}

// Events from positions `from` to `to`, all partitions together.
uint64_t Distance(const LogEnds& from, const LogEnds& to) {
  uint64_t n = 0;
  for (size_t p = 0; p < from.size() && p < to.size(); p++) {
    if (to[p] > from[p]) n += to[p] - from[p];
  }
  return n;
}

}  // namespace

std::string ViewFamily(std::string_view view_name) {
  return absl::StrCat("view.", std::string(view_name));
}

// ---------------------------------------------------------------- Projector

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
  auto p = std::unique_ptr<Projector>(new Projector());
  p->log_ = log;
  p->store_ = store;
  p->views_ = std::move(views);
  p->caches_.resize(p->views_.size());
  p->options_ = options;
  p->pool_ = std::make_unique<ApplyPool>(absl::StrCat("pl-", options.name, "-apply"),
                                         options.apply_threads, options.parallel_min_events);
  for (const std::string& f : Families(p->views_)) {
    if (store->family(f) == nullptr) {
      return absl::InternalError(absl::StrCat("state store has no family ", f));
    }
  }
  RETURN_IF_ERROR(p->LoadCheckpoint());
  p->thread_ = std::thread([raw = p.get()] { raw->Run(); });
  return p;
}

Projector::~Projector() { Stop(); }

void Projector::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  applied_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The projector thread is gone: an ingest it started lands (or not) before Stop returns.
  FinishIngest().IgnoreError();
}

absl::Status Projector::LoadCheckpoint() {
  applied_.assign(log_->partitions(), 0);
  rocksdb::ColumnFamilyHandle* meta = store_->family(kMetaFamily);
  for (uint32_t p = 0; p < applied_.size(); p++) {
    std::string value;
    rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(), meta, CheckpointKey(options_.name, p), &value);
    if (s.ok()) {
      applied_[p] = GetBigEndian64(value);
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "read projector checkpoint");
    }
  }
  folded_ = applied_;
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

absl::StatusOr<Projector::Batch> Projector::ReadBatch(const LogEnds& from,
                                                      const LogEnds& ends, size_t events) {
  // In apply order: the control stream first, then each data partition up to the first event
  // that waits for control events not applied yet.
  Batch batch;
  batch.from = from;
  batch.to = from;
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = limits::kProjectorArenaBlockBytesMin;
  arena_options.max_block_size = limits::kProjectorArenaBlockBytesMax;
  batch.arena = std::make_unique<google::protobuf::Arena>(arena_options);
  batch.stored.reserve(std::min<size_t>(events, limits::kReadLimitMax));
  batch.bytes.reserve(batch.stored.capacity());
  LogEnds& applied = batch.to;
  std::vector<StoredEvent*> read;
  std::vector<std::string_view> read_bytes;
  auto gather_partition = [&](uint32_t p, size_t budget) -> absl::Status {
    while (budget > 0 && applied[p] < ends[p]) {
      read.clear();
      read_bytes.clear();
      RETURN_IF_ERROR(log_->ReadOnArena(p, applied[p],
                                        std::min<size_t>(budget, limits::kReadLimitMax),
                                        *batch.arena, read, read_bytes));
      if (read.empty()) return absl::OkStatus();
      for (size_t i = 0; i < read.size(); i++) {
        StoredEvent* e = read[i];
        // A data event waits for the control stream it was decided against.
        if (p != kControlPartition && e->control_version() > applied[kControlPartition]) {
          return absl::OkStatus();
        }
        PL_CHECK(e->position().offset() >= applied[p]);
        applied[p] = e->position().offset() + 1;
        batch.stored.push_back(e);
        batch.bytes.push_back(read_bytes[i]);
        budget--;
      }
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(gather_partition(kControlPartition, events));
  const size_t data_partitions = applied.size() - 1;
  const size_t share =
      std::max<size_t>(1, events / std::max<size_t>(1, data_partitions));
  for (uint32_t p = 1; p < applied.size(); p++) RETURN_IF_ERROR(gather_partition(p, share));

  return batch;
}

absl::Status Projector::ParsePayloads(Batch& batch) {
  const size_t n = batch.stored.size();
  batch.events.assign(n, nullptr);
  // One contiguous share per thread. A share stops at its first failure; the smallest failing
  // index over all of them is the batch's first.
  const size_t shares = pool_->threads();
  const size_t share = (n + shares - 1) / shares;
  std::atomic<size_t> next_share{0};
  std::atomic<size_t> first_bad{n};
  auto parse = [&] {
    for (size_t k = next_share++; k < shares; k = next_share++) {
      for (size_t i = std::min(n, k * share); i < std::min(n, (k + 1) * share); i++) {
        auto* event = google::protobuf::Arena::CreateMessage<v1::Event>(batch.arena.get());
        if (!event->ParseFromString(batch.stored[i]->payload())) {
          size_t seen = first_bad.load();
          while (i < seen && !first_bad.compare_exchange_weak(seen, i)) {
          }
          break;
        }
        batch.events[i] = event;
      }
    }
  };
  pool_->ShareOut(n, shares, parse);
  if (const size_t bad = first_bad.load(); bad < n) {
    return absl::DataLossError(absl::StrFormat("partition %d offset %d: payload does not parse",
                                               batch.stored[bad]->position().partition(),
                                               batch.stored[bad]->position().offset()));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Projector::Step() {
  if (flight_ && flight_->done) {
    // The ingest landed: its rows are in the store; free them.
    if (absl::Status s = FinishIngest(); !s.ok()) {
      DiscardBulk();
      return s;
    }
  }
  const LogEnds ends = log_->Ends();
  const bool bulk_allowed = options_.bulk_lag_events > 0 && !options_.before_commit &&
                            !options_.on_batch_start;
  if (!bulk_ && bulk_allowed && Distance(folded_, ends) >= options_.bulk_lag_events) {
    bulk_ = true;
    ClearBulk();
  }

  // 1. The batch: read ahead while the previous one was folded (bulk), or read now.
  Batch batch;
  if (prefetched_ && prefetched_->from == folded_) {
    batch = std::move(*prefetched_);
  } else {
    ASSIGN_OR_RETURN(batch, ReadBatch(folded_, ends, BatchEvents()));
  }
  prefetched_.reset();
  const LogEnds& applied = batch.to;
  const std::vector<StoredEvent*>& stored = batch.stored;
  const std::vector<v1::Event*>& events = batch.events;

  std::vector<rocksdb::ColumnFamilyHandle*> families;
  for (const auto& v : views_) families.push_back(store_->family(ViewFamily(v->name())));
  if (stored.empty()) {
    // A bulk fold that cannot go on (the log's end, or events waiting for the control stream)
    // commits what it folded.
    if (bulk_) RETURN_IF_ERROR(EndBulk(families));
    return size_t{0};
  }

  // A bulk fold reads the next batch while it folds this one: reading the log is a fifth of a
  // rebuild's time, and the folding threads leave room for it. Whatever leaves this function
  // first, the reader is joined.
  std::optional<absl::StatusOr<Batch>> next;
  std::thread reader;
  if (bulk_) {
    reader = std::thread([this, &next, &applied, &ends] {
      NameThisThread(absl::StrCat("pl-", options_.name, "-read"));
      next = ReadBatch(applied, ends, BatchEvents());
    });
  }
  absl::Cleanup join_reader = [&] {
    if (!reader.joinable()) return;
    reader.join();
    if (next && next->ok() && !next->value().stored.empty()) prefetched_ = std::move(next->value());
  };

  // 1b. The payloads (parsed here rather than by the reader: see ParsePayloads).
  if (absl::Status s = ParsePayloads(batch); !s.ok()) {
    DiscardBulk();
    return s;
  }

  // 2. Fold the batch into every view. Views are independent (each writes only its own family),
  //    so a large batch is shared out view by view among apply_threads threads; each view still
  //    sees every event in log order. A bulk fold adds to the rows of the batches before it.
  if (options_.on_batch_start) options_.on_batch_start();
  std::vector<ViewRows> rows(views_.size());
  std::vector<ReadBackKeys> batch_read_back;
  if (!bulk_) batch_read_back.resize(views_.size());
  std::vector<ReadBackKeys>& read_back = bulk_ ? bulk_read_back_ : batch_read_back;
  std::vector<absl::Status> results(views_.size());
  std::vector<size_t> bytes_put(views_.size());
  // The threads take the views longest first, by how long each took on the previous batch: two
  // large views (the timeline, the event index) taken last would leave one thread folding alone.
  // Which thread folds a view changes nothing in its rows.
  std::vector<size_t> order(views_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  view_nanos_.resize(views_.size());
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return view_nanos_[a] > view_nanos_[b]; });
  std::atomic<size_t> next_view{0};
  auto apply_views = [&] {
    for (size_t k = next_view++; k < views_.size(); k = next_view++) {
      const size_t i = order[k];
      const auto started = std::chrono::steady_clock::now();
      ViewTxnOptions txn_options;
      txn_options.db = store_->db();
      txn_options.family = families[i];
      txn_options.rows = &rows[i];
      txn_options.cache = views_[i]->cached_rows() > 0 ? &caches_[i] : nullptr;
      txn_options.read_back = &read_back[i];
      txn_options.pending = bulk_ ? &bulk_rows_[i] : nullptr;
      txn_options.ingesting = flight_ ? &flight_->rows[i] : nullptr;
      ViewTxn txn(txn_options);
      for (size_t j = 0; j < stored.size(); j++) {
        txn.set_stored_bytes(batch.bytes[j]);
        absl::Status s = views_[i]->Apply(*stored[j], *events[j], txn);
        if (!s.ok()) {
          results[i] = absl::Status(
              s.code(), absl::StrFormat("view %s at partition %d offset %d: %s",
                                        std::string(views_[i]->name()),
                                        stored[j]->position().partition(),
                                        stored[j]->position().offset(), s.message()));
          break;
        }
      }
      if (results[i].ok()) {
        if (absl::Status s = views_[i]->FinishBatch(txn); !s.ok()) {
          results[i] = absl::Status(s.code(), absl::StrFormat("view %s at the end of a batch: %s",
                                                              std::string(views_[i]->name()),
                                                              s.message()));
        }
      }
      bytes_put[i] = txn.bytes_put();
      view_nanos_[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
    }
  };
  pool_->ShareOut(stored.size(), views_.size(), apply_views);
  // The first failing view in view order: the same log gives the same error. A bulk fold's
  // rows now hold part of this batch: they are dropped, and the retry folds again from the
  // last commit.
  for (const absl::Status& s : results) {
    if (!s.ok()) {
      DiscardBulk();
      return s;
    }
  }
  const size_t count = stored.size();
  if (options_.before_commit) RETURN_IF_ERROR(options_.before_commit());

  if (!bulk_) {
    std::vector<PendingRows> one(views_.size());
    for (size_t i = 0; i < views_.size(); i++) one[i].push_back(std::move(rows[i]));
    // Counted before the commit publishes the positions, so that a caller who saw them
    // caught up also sees the count.
    events_applied_ += count;
    if (absl::Status s = Commit(one, read_back, families, applied, false); !s.ok()) {
      events_applied_ -= count;
      return s;
    }
    folded_ = applied;
    return count;
  }
  // 3b. Bulk: commit once the rows reach their budget, or when the next batch would not be
  //     full (the fold is at the log's end: go back to batch by batch commits).
  folded_ = applied;
  for (size_t i = 0; i < views_.size(); i++) {
    if (!rows[i].empty()) bulk_rows_[i].push_back(std::move(rows[i]));
  }
  events_applied_ += count;
  bulk_events_ += count;
  for (size_t b : bytes_put) bulk_bytes_ += b;
  const bool near_end = Distance(applied, log_->Ends()) < BatchEvents();
  if (near_end) {
    RETURN_IF_ERROR(EndBulk(families));
  } else if (bulk_bytes_ >= options_.bulk_bytes) {
    // Written and ingested by another thread while the fold goes on (one ingest at a time).
    if (absl::Status s = FinishIngest(); !s.ok()) {
      DiscardBulk();
      return s;
    }
    StartIngest(families);
  }
  return count;
}

absl::Status Projector::EndBulk(const std::vector<rocksdb::ColumnFamilyHandle*>& families) {
  absl::Status s = FinishIngest();
  if (s.ok()) s = Commit(bulk_rows_, bulk_read_back_, families, folded_, /*ingest=*/true);
  if (!s.ok()) {
    DiscardBulk();
    return s;
  }
  bulk_ = false;
  ClearBulk();
  return absl::OkStatus();
}

void Projector::DiscardBulk() {
  if (!bulk_) return;
  // An ingest in flight lands or fails first: the fold resumes from whichever checkpoint that
  // leaves.
  FinishIngest().IgnoreError();
  // events_applied_ counted the discarded batches; they will be counted again.
  events_applied_ -= bulk_events_;
  ClearBulk();
  std::lock_guard<std::mutex> lock(mu_);
  folded_ = applied_;
}

void Projector::ClearBulk() {
  bulk_rows_.assign(views_.size(), {});
  bulk_read_back_.assign(views_.size(), {});
  bulk_bytes_ = 0;
  bulk_events_ = 0;
}

absl::Status Projector::Commit(std::vector<PendingRows>& rows, std::vector<ReadBackKeys>& read_back,
                               const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                               const LogEnds& applied, bool ingest) {
  RETURN_IF_ERROR(WriteRows(rows, families, Applied(), applied, ingest));
  RefreshCaches(rows, read_back);
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied_ = applied;
  }
  applied_cv_.notify_all();
  return absl::OkStatus();
}

absl::Status Projector::WriteRows(const std::vector<PendingRows>& rows,
                                  const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                                  const LogEnds& started, const LogEnds& applied, bool ingest) {
  rocksdb::ColumnFamilyHandle* meta = store_->family(kMetaFamily);
  if (ingest) {
    // Each family's rows, and the checkpoint (its keys sort by partition), as files ingested
    // together: all of them land, or none.
    std::vector<StateStore::IngestPart> parts;
    for (size_t i = 0; i < views_.size(); i++) {
      parts.push_back({families[i], [&r = rows[i]](const StateStore::RowSink& put) {
                         std::vector<const ViewRows*> sets;
                         AddSets(r, sets);
                         for (MergedRows m(sets, ""); !m.done(); m.Next()) {
                           const auto& [key, value] = m.top();
                           RETURN_IF_ERROR(put(key, value ? &*value : nullptr));
                         }
                         return absl::OkStatus();
                       }});
    }
    parts.push_back({meta, [&](const StateStore::RowSink& put) {
                       for (uint32_t p = 0; p < applied.size(); p++) {
                         if (applied[p] == started[p]) continue;
                         std::string value;
                         PutBigEndian64(value, applied[p]);
                         RETURN_IF_ERROR(put(CheckpointKey(options_.name, p), &value));
                       }
                       return absl::OkStatus();
                     }});
    return store_->Ingest(parts, "ingest views", pool_->threads());
  }
  // 3. One WriteBatch: each family's final rows in key order, then the checkpoint. Sorted
  //    keys make memtable inserts cheap (each insert starts its skiplist search from the
  //    previous one), and a row rewritten within the batch (a counter, a record's state) is
  //    written once.
  size_t bytes = 0;
  for (const PendingRows& runs : rows) {
    PL_CHECK(runs.size() <= 1);  // one batch's rows
    for (const ViewRows& r : runs) {
      for (const auto& [key, value] : r) bytes += key.size() + (value ? value->size() : 0) + 8;
    }
  }
  rocksdb::WriteBatch batch(bytes + 64 * applied.size());
  for (size_t i = 0; i < views_.size(); i++) {
    for (const ViewRows& r : rows[i]) AppendSorted(r, families[i], batch);
  }
  for (uint32_t p = 0; p < applied.size(); p++) {
    // Only the partitions this batch moved: the others' stored checkpoints are still right,
    // and a batch of a few single commands would otherwise write more checkpoint rows than
    // view rows.
    if (applied[p] == started[p]) continue;
    std::string value;
    PutBigEndian64(value, applied[p]);
    batch.Put(meta, CheckpointKey(options_.name, p), value).PermitUncheckedError();
  }
  // Not synced and without WAL (ledger/state_store.h): views are derived. A crash loses rows
  // and checkpoint together, and the projector re-applies those events on restart.
  return store_->Write(&batch, "write views");
}

void Projector::RefreshCaches(std::vector<PendingRows>& rows,
                              std::vector<ReadBackKeys>& read_back) {
  // Committed: the rows refresh the caches. Only rows the view reads back are cached
  // (ViewTxn::Get put them there, or PutReadBack asked for them); rows it only writes, such as
  // an alert window's samples, would crowd those out.
  for (size_t i = 0; i < views_.size(); i++) {
    const size_t limit = views_[i]->cached_rows();
    if (limit == 0) continue;
    RowCache& cache = caches_[i];
    if (cache.size() > limit) cache.clear();
    // Rows written to be read back join the cache; the loop below gives them their value.
    for (const std::string& key : read_back[i]) cache.try_emplace(key, std::nullopt);
    // Oldest batch first: the newest value of a row is the one left.
    for (ViewRows& r : rows[i]) {
      for (auto& [key, value] : r) {
        if (auto it = cache.find(key); it != cache.end()) it->second = std::move(value);
      }
    }
  }
  for (PendingRows& r : rows) r.clear();
  for (ReadBackKeys& k : read_back) k.clear();
}

void Projector::StartIngest(const std::vector<rocksdb::ColumnFamilyHandle*>& families) {
  PL_CHECK(!flight_);
  flight_ = std::make_unique<Flight>();
  Flight* f = flight_.get();
  f->rows = std::move(bulk_rows_);
  f->read_back = std::move(bulk_read_back_);
  f->applied = folded_;
  f->events = bulk_events_;
  ClearBulk();
  f->thread = std::thread([this, f, families, started = Applied()] {
    NameThisThread(absl::StrCat("pl-", options_.name, "-ingest"));
    f->status = WriteRows(f->rows, families, started, f->applied, /*ingest=*/true);
    if (f->status.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      applied_ = f->applied;
    }
    applied_cv_.notify_all();
    f->done = true;
  });
}

absl::Status Projector::FinishIngest() {
  if (!flight_) return absl::OkStatus();
  flight_->thread.join();
  absl::Status s = flight_->status;
  if (s.ok()) {
    RefreshCaches(flight_->rows, flight_->read_back);
  } else {
    // Counted when folded; they will be folded and counted again.
    events_applied_ -= flight_->events;
  }
  flight_.reset();
  return s;
}

LogEnds Projector::Applied() {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_;
}

uint64_t Projector::Lag() {
  const LogEnds ends = log_->Ends();
  return Distance(Applied(), ends);
}

absl::Status Projector::WaitFor(const std::vector<v1::Position>& positions, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  for (const auto& pos : positions) {
    if (pos.partition() >= applied_.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("min_position.partition: %d is not a partition", pos.partition()));
    }
  }
  auto done = [&] {
    if (!failed_.ok() || stop_) return true;
    for (const auto& pos : positions) {
      if (applied_[pos.partition()] <= pos.offset()) return false;
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
  std::vector<v1::Position> positions;
  for (uint32_t p = 0; p < ends.size(); p++) {
    if (ends[p] == 0) continue;
    v1::Position& pos = positions.emplace_back();
    pos.set_partition(p);
    pos.set_offset(ends[p] - 1);
  }
  return WaitFor(positions, deadline);
}

absl::Status Projector::Rebuild(absl::Time deadline) {
  rebuilding_ = true;
  absl::Cleanup done = [this] { rebuilding_ = false; };
  Stop();
  {
    std::unique_lock<std::shared_mutex> families(families_mu_);
    for (const auto& v : views_) RETURN_IF_ERROR(store_->DropAndRecreate(ViewFamily(v->name())));
    for (RowCache& cache : caches_) cache.clear();
    // The meta family is shared with other projectors: delete only this one's checkpoint.
    rocksdb::WriteBatch batch;
    for (uint32_t p = 0; p < log_->partitions(); p++) {
      batch.Delete(store_->family(kMetaFamily), CheckpointKey(options_.name, p))
          .PermitUncheckedError();
    }
    RETURN_IF_ERROR(store_->Write(&batch, "reset checkpoint"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied_.assign(log_->partitions(), 0);
    folded_ = applied_;
    bulk_ = false;
    prefetched_.reset();
    ClearBulk();
    failed_ = absl::OkStatus();
    stop_ = false;
  }
  events_applied_ = 0;
  thread_ = std::thread([this] { Run(); });
  return WaitCaughtUp(deadline);
}

absl::StatusOr<std::vector<ViewDigest>> Projector::Digests() {
  std::shared_lock<std::shared_mutex> families(families_mu_);
  std::vector<ViewDigest> out;
  for (const auto& v : views_) {
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
