// The state database: one RocksDB under <data>/state holding the write model, the views and
// their checkpoints, one column family each. Views and checkpoints that must move together are
// written in one WriteBatch (ARCHITECTURE §5).
//
// Everything here is a fold of the log, so nothing is written to RocksDB's WAL: the log is the
// durable truth. Flushes are atomic across families (atomic_flush), so what a crash leaves is
// the state as of some earlier batch, every family with its checkpoint, and the folds resume
// from there and refold the rest from the log. The WAL would have written every row twice
// (~20% of the CPU an ingested event costs). To bound that refold, Write asks for a flush at
// least every kStateFlushIntervalSeconds while there are writes; a clean close flushes.
//
// Thread safety: the store is thread-safe (RocksDB is); handles stay valid until the store is
// destroyed. Families are created on first open and can be dropped and recreated (rebuild).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace perfledger {

struct StateStoreOptions {
  std::string dir;
  // Column families to open or create besides "default".
  std::vector<std::string> families;
  // Those of `families` whose rows are large and written once (the timeline's envelopes): their
  // values go to blob files, so compaction rewrites keys and blob references, not the values.
  // They are read by prefix scans only, so they get no Bloom filters.
  std::set<std::string> blob_families;
};

class StateStore {
 public:
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const StateStoreOptions& options);
  ~StateStore();

  rocksdb::DB* db() { return db_.get(); }
  const std::string& dir() const { return dir_; }

  // The handle of a family; nullptr if it was not opened. Valid until DropAndRecreate(name).
  rocksdb::ColumnFamilyHandle* family(const std::string& name);

  // Drops a family with all its data and creates it empty (used by rebuilds).
  absl::Status DropAndRecreate(const std::string& name);

  // Writes `batch` atomically, without WAL (see above); `what` names the write in the error.
  // Every writer (projectors, write model) goes through here rather than db()->Write, so that
  // one place decides how state is written.
  absl::Status Write(rocksdb::WriteBatch* batch, std::string_view what = "write state");

  // A bulk write that bypasses the memtables, for a fold catching up on a long log (a rebuild):
  // each part's rows go into a new SST file, and the files join the store in one atomic step
  // (all of them or, after an error or a crash, none). Like Write, nothing goes through a WAL.
  // A part's `rows` calls `put(key, value)` for each row in strictly increasing key order; a
  // null value deletes the key. Each family appears at most once; parts without rows are
  // skipped. Up to `threads` threads write the files, each part on one thread.
  using RowSink = std::function<absl::Status(std::string_view key, const std::string* value)>;
  struct IngestPart {
    rocksdb::ColumnFamilyHandle* family = nullptr;
    std::function<absl::Status(const RowSink& put)> rows;
  };
  absl::Status Ingest(const std::vector<IngestPart>& parts, std::string_view what,
                      size_t threads = 1);

 private:
  StateStore() = default;
  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::mutex mu_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
  rocksdb::ColumnFamilyOptions cf_options_;
  rocksdb::ColumnFamilyOptions blob_cf_options_;
  std::set<std::string> blob_families_;
  // When Write next asks for a flush (see above); guarded by flush_mu_.
  std::mutex flush_mu_;
  absl::Time next_flush_ = absl::InfinitePast();
  void MaybeFlush();
  // Flushes every family together (atomic_flush: a crash keeps them consistent), waiting for
  // the flush or not.
  enum class FlushWait { kWait, kInBackground };
  absl::Status FlushAll(FlushWait wait);
  // Names Ingest's files; guarded by ingest_mu_, which also keeps ingests one at a time.
  std::mutex ingest_mu_;
  uint64_t ingest_files_ = 0;
  const rocksdb::ColumnFamilyOptions& OptionsFor(const std::string& name) const {
    return blob_families_.contains(name) ? blob_cf_options_ : cf_options_;
  }
};

}  // namespace perfledger
