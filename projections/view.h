// A view: a fold of the log into rows of its own RocksDB column family ("view.<name>").
//
// The projector calls Apply for every event in log order (per partition; the control stream
// before the data that depends on it) and writes all of a batch's row changes together with
// its checkpoint in one WriteBatch, so a view never sees an event twice or misses one.
// Views are pure: no clock, no randomness, no outside calls (DESIGN §3 rule 2).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/events.pb.h"
#include "rocksdb/db.h"

namespace perfledger::projections {

// The rows one view changed in the batch being applied, in key order; nullopt marks a delete.
// A sorted map rather than RocksDB's WriteBatchWithIndex: the projector writes each family's
// final rows in key order (cheap memtable inserts) and views read their own writes often
// (counters, records), and a node-based map does both without re-decoding the batch on every
// comparison.
using ViewRows = absl::btree_map<std::string, std::optional<std::string>, std::less<>>;

// Rows of one view as committed (nullopt: known absent), kept in memory between batches for a
// view that reads the same rows batch after batch (View::cached_rows). Rows enter it when the
// view reads them from the store (committed by definition) or, once committed, when it wrote
// them with PutReadBack; the projector refreshes those rows with a batch's writes once its
// WriteBatch landed, so only committed values are ever in it.
using RowCache = absl::flat_hash_map<std::string, std::optional<std::string>>;

// Keys of rows a view wrote and will read again soon (ViewTxn::PutReadBack): they enter the
// RowCache once the batch has committed, instead of costing a store read the next time.
using ReadBackKeys = std::vector<std::string>;

// The rows of the batches a bulk fold (ProjectorOptions::bulk_lag_events) folded and has not
// committed yet, oldest first. Each batch keeps its own map: inserts into a small map are
// cheap, where one map of a million rows made every insert a walk over cold memory. Reads look
// through them newest first, and merge them as they go (ViewTxn) so a view that reads its rows
// back sees only a few; the projector merges the rest when it writes them out.
using PendingRows = std::vector<ViewRows>;

// Reads and writes of one view within the batch being applied: reads see the batch's own
// earlier writes. Not thread-safe; one view's batch is applied by one thread at a time.
class ViewTxn {
 public:
  // `cache` (may be null) is this view's RowCache: consulted after the batch's own rows and
  // before the store, and filled by reads from the store.
  // `read_back` (may be null) collects PutReadBack's keys for the projector.
  // `pending` (may be null) holds a bulk fold's uncommitted earlier batches, and `ingesting`
  // (may be null) older ones being written to the store by another thread (read-only here):
  // read after `rows`, in that order, and before the cache.
  ViewTxn(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, ViewRows* rows,
          RowCache* cache = nullptr, ReadBackKeys* read_back = nullptr,
          PendingRows* pending = nullptr, const PendingRows* ingesting = nullptr)
      : db_(db), cf_(cf), rows_(rows), cache_(cache), read_back_(read_back), pending_(pending),
        ingesting_(ingesting) {}

  // The value of `key`, or nullopt. A read error is returned, never mistaken for absence.
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key);
  void Put(std::string_view key, std::string_view value);
  // Put, taking the strings the view built for the row (a timeline entry's envelope) instead of
  // copying them.
  void PutOwned(std::string key, std::string value);
  // Put, for a row the view will read in a later batch (a window's header): with a cache, the
  // row enters it at commit. Rows that are only written (a window's samples) use Put, so as not
  // to crowd out the ones read again.
  void PutReadBack(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  // Every row whose key starts with `prefix`, in key order, this batch's writes included.
  // Materialized, so the view may write while it walks the result.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view prefix);
  // The same, only rows at or after `from` and at most `limit` of them: a walk that resumes
  // where it stopped, and seeks past rows deleted before `from` instead of skipping them.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view prefix,
                                                                        std::string_view from,
                                                                        size_t limit);
  // Key and value bytes written through this transaction (a rewritten row counts again).
  size_t bytes_put() const { return bytes_put_; }
  // The envelope being applied, serialized as the log stores it; empty when the log does not
  // keep it as is (EventLog::ReadOnArena). A view that keeps a copy of the envelope takes these
  // bytes instead of serializing the parsed envelope again: the same bytes, one copy cheaper.
  std::string_view stored_bytes() const { return stored_bytes_; }
  void set_stored_bytes(std::string_view bytes) { stored_bytes_ = bytes; }

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  ViewRows* rows_;
  RowCache* cache_;
  ReadBackKeys* read_back_;
  PendingRows* pending_;
  const PendingRows* ingesting_;
  size_t bytes_put_ = 0;
  std::string_view stored_bytes_;
};

class View {
 public:
  virtual ~View() = default;
  // Short name; the column family is "view.<name>".
  virtual std::string_view name() const = 0;
  // Folds one event. An error stops the projector (a view that cannot apply an event must not
  // skip it silently).
  virtual absl::Status Apply(const v1::Envelope& envelope, const v1::Event& event,
                             ViewTxn& txn) = 0;
  // After the batch's last Apply, through the same transaction: a view that keeps rows parsed
  // across a batch writes them here, once.
  virtual absl::Status FinishBatch(ViewTxn&) { return absl::OkStatus(); }
  // True when the view's rows are large and never rewritten (a copy of each event): the state
  // store keeps their values in blob files, out of compaction's way.
  virtual bool large_values() const { return false; }
  // How many of its rows the projector keeps in memory between batches (0 = none; the cache
  // starts over when full): for a view that reads the same rows batch after batch, where a
  // memtable holding many versions of each makes every read a long skiplist search.
  virtual size_t cached_rows() const { return 0; }
};

// The employee an event is about (its timeline), or empty.
std::string EmployeeOf(const v1::Envelope& envelope, const v1::Event& event);

// Every view of the product, in a fixed order.
std::vector<std::unique_ptr<View>> AllViews();

std::string ViewFamily(std::string_view view_name);

}  // namespace perfledger::projections
