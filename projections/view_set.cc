#include "projections/view_set.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/status_macros.h"
#include "projections/keys.h"

namespace perfledger::projections {
namespace {

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

}  // namespace

std::string CheckpointKey(const std::string& projector, PartitionId partition) {
  std::string key = absl::StrCat("cp/", projector, "/");
  PutBigEndian32(key, partition.value());
  return key;
}

ViewSet::ViewSet(StateStore* store, std::string projector, std::string meta_family,
                 std::vector<std::unique_ptr<View>> views, ApplyPool* pool)
    : store_(store),
      projector_(std::move(projector)),
      meta_family_(std::move(meta_family)),
      views_(std::move(views)),
      pool_(pool),
      caches_(views_.size()),
      view_nanos_(views_.size()) {}

std::vector<rocksdb::ColumnFamilyHandle*> ViewSet::Families() const {
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  families.reserve(views_.size());
  for (const auto& v : views_) families.push_back(store_->family(ViewFamily(v->name())));
  return families;
}

absl::Status ViewSet::Apply(const Batch& batch,
                            const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                            const std::function<void(size_t view, ViewTxnOptions& txn)>& sources,
                            std::vector<ViewRows>& rows, std::vector<size_t>& bytes_put) {
  const std::vector<StoredEvent*>& stored = batch.stored;
  const std::vector<v1::Event*>& events = batch.events;
  std::vector<absl::Status> results(views_.size());
  // The threads take the views longest first, by how long each took on the previous batch: two
  // large views (the timeline, the event index) taken last would leave one thread folding alone.
  // Which thread folds a view changes nothing in its rows.
  std::vector<size_t> order(views_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return view_nanos_[a] > view_nanos_[b]; });
  std::atomic<size_t> next_view{0};
  auto apply_views = [&] {
    for (size_t k = next_view++; k < views_.size(); k = next_view++) {
      const size_t i = order[k];
      const auto started = std::chrono::steady_clock::now();
      ViewTxnOptions options;
      options.db = store_->db();
      options.family = families[i];
      options.rows = &rows[i];
      options.cache = views_[i]->cached_rows() > 0 ? &caches_[i] : nullptr;
      sources(i, options);
      ViewTxn txn(options);
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
  for (const absl::Status& s : results) RETURN_IF_ERROR(s);
  return absl::OkStatus();
}

absl::Status ViewSet::Write(const std::vector<PendingRows>& rows,
                            const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                            const LogEnds& started, const LogEnds& applied,
                            CommitMode mode) const {
  rocksdb::ColumnFamilyHandle* meta = store_->family(meta_family_);
  switch (mode) {
    case CommitMode::kIngest: {
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
                         for (PartitionId p : applied.partitions()) {
                           if (applied[p] == started[p]) continue;
                           std::string value;
                           PutBigEndian64(value, applied[p].value());
                           RETURN_IF_ERROR(put(CheckpointKey(projector_, p), &value));
                         }
                         return absl::OkStatus();
                       }});
      return store_->Ingest(parts, "ingest views", pool_->threads());
    }
    case CommitMode::kWriteBatch: {
      // One WriteBatch: each family's final rows in key order, then the checkpoint. Sorted
      // keys make memtable inserts cheap (each insert starts its skiplist search from the
      // previous one), and a row rewritten within the batch (a counter, a record's state) is
      // written once.
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
      for (PartitionId p : applied.partitions()) {
        // Only the partitions this batch moved: the others' stored checkpoints are still
        // right, and a batch of a few single commands would otherwise write more checkpoint
        // rows than view rows.
        if (applied[p] == started[p]) continue;
        std::string value;
        PutBigEndian64(value, applied[p].value());
        batch.Put(meta, CheckpointKey(projector_, p), value).PermitUncheckedError();
      }
      // Not synced and without WAL (ledger/state_store.h): views are derived. A crash loses
      // rows and checkpoint together, and the projector re-applies those events on restart.
      return store_->Write(&batch, "write views");
    }
  }
  return absl::InternalError("unknown commit mode");
}

void ViewSet::RefreshCaches(std::vector<PendingRows>& rows,
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

void ViewSet::ClearCaches() {
  for (RowCache& cache : caches_) cache.clear();
}

}  // namespace perfledger::projections
