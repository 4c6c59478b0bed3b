#include "ledger/state_store.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "rocksdb/write_buffer_manager.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/table.h"

namespace perfledger {

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const StateStoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create state directory ", options.dir, ": ", ec.message()));
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  // The views, the reactor and the write model write here concurrently from their own threads.
  // RocksDB's default makes a writer that joins a group spin (up to 100 us) for its leader: on
  // two cores that spinning takes the CPU from the very threads it waits for. Block instead.
  db_options.enable_write_thread_adaptive_yield = false;
  // Point lookups dominate (write model, view rows): a Bloom filter saves disk reads on misses,
  // in the SST files and in the memtable (most lookups of a fold ask for a row that is new).
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(limits::kStateBlockCacheBytes);
  // Index and filter blocks are charged to the block cache, so the store's memory is bounded by
  // its budgets however many rows it holds (outside the cache every open file keeps its whole
  // index and filter in memory, and the store grows with its data). They go into the cache's
  // high-priority pool, and level 0's stay pinned: the newest files serve most lookups.
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  rocksdb::BlockBasedTableOptions scanned = table;  // for the blob families, below
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  db_options.memtable_whole_key_filtering = true;
  db_options.memtable_prefix_bloom_size_ratio = 0.05;
  // Small memtables per family: the folds insert and look up rows at a high rate, and a skiplist
  // search costs log(entries) key comparisons; flushing often is cheap background work.
  db_options.write_buffer_size = limits::kStateWriteBufferBytes;
  db_options.write_buffer_manager =
      std::make_shared<rocksdb::WriteBufferManager>(limits::kStateWriteBuffersBytes);
  db_options.compaction_style = rocksdb::kCompactionStyleUniversal;
  db_options.compression = rocksdb::kNoCompression;
  // Writes skip the WAL (see state_store.h): families flush together, so a crash leaves every
  // view with its own checkpoint.
  db_options.atomic_flush = true;

  auto store = std::unique_ptr<StateStore>(new StateStore());
  store->dir_ = options.dir;
  store->cf_options_ = rocksdb::ColumnFamilyOptions(db_options);
  store->blob_cf_options_ = store->cf_options_;
  store->blob_cf_options_.enable_blob_files = true;
  store->blob_cf_options_.min_blob_size = limits::kStateMinBlobBytes;
  // Written once, never overwritten: no garbage to collect (a rebuild drops the whole family).
  store->blob_cf_options_.enable_blob_garbage_collection = false;
  // Read by prefix scans only (a timeline page), which whole-key Bloom filters cannot serve:
  // building them in every flush and compaction was a large part of the family's compaction
  // CPU, and the memtable's filter an insert more per row.
  store->blob_cf_options_.table_factory.reset(rocksdb::NewBlockBasedTableFactory(scanned));
  store->blob_cf_options_.memtable_prefix_bloom_size_ratio = 0;
  store->blob_cf_options_.memtable_whole_key_filtering = false;
  store->blob_families_ = options.blob_families;

  // Open every family that exists on disk too (a family from a newer version must not be lost).
  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName};
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, options.dir, &existing).ok()) {
    for (const auto& n : existing) {
      if (n != rocksdb::kDefaultColumnFamilyName) names.push_back(n);
    }
  }
  for (const auto& n : options.families) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, store->OptionsFor(n));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(db_options, options.dir, descriptors, &handles, &raw),
                            absl::StrCat("open state ", options.dir)));
  store->db_.reset(raw);
  for (size_t i = 0; i < names.size(); i++) store->families_[names[i]] = handles[i];
  return store;
}

StateStore::~StateStore() {
  if (!db_) return;
  for (auto& [name, handle] : families_) db_->DestroyColumnFamilyHandle(handle);
  db_->Close().PermitUncheckedError();
}

rocksdb::ColumnFamilyHandle* StateStore::family(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  return it == families_.end() ? nullptr : it->second;
}

absl::Status StateStore::DropAndRecreate(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    RETURN_IF_ERROR(FromRocks(db_->DropColumnFamily(it->second), absl::StrCat("drop ", name)));
    db_->DestroyColumnFamilyHandle(it->second);
    families_.erase(it);
  }
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  RETURN_IF_ERROR(FromRocks(db_->CreateColumnFamily(OptionsFor(name), name, &handle),
                            absl::StrCat("create ", name)));
  families_[name] = handle;
  return absl::OkStatus();
}

absl::Status StateStore::Write(rocksdb::WriteBatch* batch, std::string_view what) {
  rocksdb::WriteOptions options;
  options.disableWAL = true;
  RETURN_IF_ERROR(FromRocks(db_->Write(options, batch), what));
  MaybeFlush();
  return absl::OkStatus();
}

void StateStore::MaybeFlush() {
  const absl::Time now = absl::Now();
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    if (now < next_flush_) return;
    next_flush_ = now + absl::Seconds(limits::kStateFlushIntervalSeconds);
  }
  // A background flush: the writer goes on.
  absl::Status s = FlushAll(FlushWait::kInBackground);
  if (!s.ok()) LogWarning(absl::StrCat("state store: periodic flush: ", s.ToString()));
}

absl::Status StateStore::FlushAll(FlushWait wait) {
  // Under mu_: a rebuild's DropAndRecreate must not destroy a handle in the middle of this.
  // Without waiting for the flush itself, that is short.
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  for (const auto& [name, handle] : families_) handles.push_back(handle);
  rocksdb::FlushOptions options;
  options.wait = wait == FlushWait::kWait;
  options.allow_write_stall = true;
  return FromRocks(db_->Flush(options, handles), "flush state");
}

absl::Status StateStore::Ingest(const std::vector<IngestPart>& parts, std::string_view what,
                               size_t threads) {
  std::lock_guard<std::mutex> lock(ingest_mu_);
  const std::filesystem::path dir = std::filesystem::path(dir_) / "ingest";
  std::error_code ec;
  // A crash may have left files of an unfinished ingest: they were never part of the store.
  if (ingest_files_ == 0) std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(absl::string_view(what.data(), what.size()),
                                            ": create ", dir.string(), ": ", ec.message()));
  }
  std::vector<std::string> files;
  for (size_t i = 0; i < parts.size(); i++) {
    files.push_back((dir / absl::StrCat(ingest_files_++, ".sst")).string());
  }
  // Ingested files are moved (hard-linked) into the store; whatever is left here afterwards,
  // after an error too, is garbage.
  absl::Cleanup remove = [&] {
    for (const std::string& f : files) std::filesystem::remove(f, ec);
  };
  // Each part's file is written by one of `threads` threads (a part's rows come in key order,
  // so a part cannot be split).
  std::vector<uint64_t> rows(parts.size(), 0);
  std::vector<absl::Status> results(parts.size());
  std::atomic<size_t> next{0};
  auto write = [&] {
    for (size_t i = next++; i < parts.size(); i = next++) {
      const rocksdb::Options options(db_->GetDBOptions(), db_->GetOptions(parts[i].family));
      rocksdb::SstFileWriter writer(rocksdb::EnvOptions(options), options, parts[i].family);
      results[i] = [&]() -> absl::Status {
        RETURN_IF_ERROR(FromRocks(writer.Open(files[i]), what));
        RETURN_IF_ERROR(parts[i].rows([&](std::string_view key, const std::string* value) {
          rows[i]++;
          const rocksdb::Slice k(key.data(), key.size());
          return FromRocks(value != nullptr ? writer.Put(k, *value) : writer.Delete(k), what);
        }));
        if (rows[i] == 0) return absl::OkStatus();  // RocksDB refuses an empty file
        return FromRocks(writer.Finish(), what);
      }();
    }
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < std::min(threads, parts.size()); t++) helpers.emplace_back(write);
  write();
  for (std::thread& t : helpers) t.join();
  std::vector<rocksdb::IngestExternalFileArg> args;
  for (size_t i = 0; i < parts.size(); i++) {
    RETURN_IF_ERROR(results[i]);
    if (rows[i] == 0) continue;
    rocksdb::IngestExternalFileArg& arg = args.emplace_back();
    arg.column_family = parts[i].family;
    arg.external_files = {files[i]};
    arg.options.move_files = true;
    arg.options.write_global_seqno = false;  // the MANIFEST records it; the file stays as written
    // A file overlapping a family's memtable needs that memtable flushed first. RocksDB would
    // flush just the families ingested into, and a flush of the shared meta family alone would
    // make another fold's checkpoint durable without its rows. Refuse, and flush all of them
    // together instead (below).
    arg.options.allow_blocking_flush = false;
  }
  if (args.empty()) return absl::OkStatus();
  rocksdb::Status s = db_->IngestExternalFiles(args);
  if (s.IsInvalidArgument()) {
    RETURN_IF_ERROR(FlushAll(FlushWait::kWait));
    s = db_->IngestExternalFiles(args);
  }
  return FromRocks(s, what);
}

}  // namespace perfledger
