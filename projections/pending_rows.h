// A bulk fold's uncommitted rows (ProjectorOptions::bulk_lag_events), and the walks over them
// that ViewTxn (reads) and the bulk folder (the ingest's writes) share.
//
// Thread safety: none of its own. The projector thread merges a fold's batches while views read
// them; a set handed to an ingest thread is only read from then on.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"

namespace perfledger::projections {

// The rows one view changed in the batch being applied, in key order; nullopt marks a delete.
// A sorted map rather than RocksDB's WriteBatchWithIndex: the projector writes each family's
// final rows in key order (cheap memtable inserts) and views read their own writes often
// (counters, records), and a node-based map does both without re-decoding the batch on every
// comparison.
using ViewRows = absl::btree_map<std::string, std::optional<std::string>, std::less<>>;

// The rows of the batches a bulk fold folded and has not committed yet, oldest first. Each
// batch keeps its own map because an insert into a small map touches a few warm nodes, where an
// insert into one map of every folded row walks cold memory. Reads look through them newest
// first, and merge them as they go (MergePending) so a view that reads its rows back sees only
// a few maps; the bulk folder merges the rest when it writes them out.
using PendingRows = std::vector<ViewRows>;

// The newest value of `key` in a bulk fold's batches (nullopt: deleted), or null when none of
// them holds it.
const std::optional<std::string>* FindNewest(const PendingRows& batches, std::string_view key);

// Binary-counter merging of a bulk fold's batches: the newest merges into the one preceding it
// while it is at least half that one's size. A view that reads its rows then looks through
// O(log batches) maps, and each row moves O(log batches) times.
void MergePending(PendingRows& pending);

// Appends each of a fold's batches to `sets`, oldest first.
void AddSets(const PendingRows& pending, std::vector<const ViewRows*>& sets);

// Walks sorted row sets together in key order, from a key on; where several sets hold a key,
// the newest (the last one) wins. A heap of cursors: a bulk fold's many batches cost
// O(log sets) per row. The sets must not change while merged. Next is inline because a bulk
// fold's ingest and every Scan call it once per row.
class MergedRows {
 public:
  MergedRows(const std::vector<const ViewRows*>& sets, std::string_view from);
  bool done() const { return heap_.empty(); }
  // The smallest key left, with its newest value (nullopt: deleted).
  const ViewRows::value_type& top() const { return *heap_.front().it; }
  void Next() {
    // The sets are not modified while merged, so the key stays where it is.
    const std::string& key = heap_.front().it->first;
    do {
      if (++heap_.front().it == heap_.front().end) {
        std::pop_heap(heap_.begin(), heap_.end(), After);
        heap_.pop_back();
      } else {
        SiftDown();
      }
    } while (!heap_.empty() && heap_.front().it->first == key);
  }

 private:
  struct Cursor {
    ViewRows::const_iterator it, end;
    size_t set;
  };
  // The heap's front is the smallest key, and of equal keys the newest set's.
  static bool After(const Cursor& a, const Cursor& b) {
    const int c = a.it->first.compare(b.it->first);
    return c != 0 ? c > 0 : a.set < b.set;
  }
  // The front moved on: restore the heap below it (cheaper than a pop and a push).
  void SiftDown() {
    size_t i = 0;
    for (;;) {
      size_t first = i;
      const size_t l = 2 * i + 1, r = l + 1;
      if (l < heap_.size() && After(heap_[first], heap_[l])) first = l;
      if (r < heap_.size() && After(heap_[first], heap_[r])) first = r;
      if (first == i) return;
      std::swap(heap_[i], heap_[first]);
      i = first;
    }
  }
  std::vector<Cursor> heap_;
};

}  // namespace perfledger::projections
