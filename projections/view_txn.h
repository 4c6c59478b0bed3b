// ViewTxn: the reads and writes of one view while a batch is folded into it, and the row
// caches that outlive a batch.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "projections/pending_rows.h"
#include "rocksdb/db.h"

namespace perfledger::projections {

// Rows of one view as committed (nullopt: known absent), kept in memory between batches for a
// view that reads the same rows batch after batch (View::cached_rows). Rows enter it when the
// view reads them from the store (committed by definition) or, once committed, when it wrote
// them with PutReadBack; the projector refreshes those rows with a batch's writes once its
// WriteBatch landed, so only committed values are ever in it.
using RowCache = absl::flat_hash_map<std::string, std::optional<std::string>>;

// Keys of rows a view wrote and will read again soon (ViewTxn::PutReadBack): they enter the
// RowCache once the batch has committed, instead of costing a store read the next time.
using ReadBackKeys = std::vector<std::string>;

// Where a ViewTxn reads and writes. Reads look, in this order, at `rows`, `pending`,
// `ingesting`, `cache` and finally the store; writes go to `rows` only.
struct ViewTxnOptions {
  // The store and the view's family. Required.
  rocksdb::DB* db = nullptr;
  rocksdb::ColumnFamilyHandle* family = nullptr;
  // The batch's own writes. Required.
  ViewRows* rows = nullptr;
  // The view's RowCache, or null: consulted after the fold's rows, ahead of the store, and
  // filled by reads from the store.
  RowCache* cache = nullptr;
  // Collects PutReadBack's keys for the projector, or null.
  ReadBackKeys* read_back = nullptr;
  // A bulk fold's uncommitted earlier batches, or null. Reads merge them (MergePending).
  PendingRows* pending = nullptr;
  // Older batches of a bulk fold being written to the store by another thread, or null;
  // read-only here.
  const PendingRows* ingesting = nullptr;
};

// Reads and writes of one view within the batch being applied: reads see the batch's own
// earlier writes. Not thread-safe; one view's batch is applied by one thread at a time.
class ViewTxn {
 public:
  explicit ViewTxn(const ViewTxnOptions& options) : options_(options) {}

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
  ViewTxnOptions options_;
  size_t bytes_put_ = 0;
  std::string_view stored_bytes_;
};

}  // namespace perfledger::projections
