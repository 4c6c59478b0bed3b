#include "ledger/embedded_log.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "rocksdb/cache.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "rocksdb/write_buffer_manager.h"

namespace perfledger {
namespace {

constexpr char kMetaFamily[] = "meta";
constexpr char kPartitionsKey[] = "data_partitions";
constexpr char kLayoutKey[] = "layout";
// The one-family layout keeps every partition in this family; a log without kLayoutKey has that
// layout when the family exists and is new otherwise.
constexpr char kOneFamilyName[] = "events";
constexpr uint32_t kLayoutOneFamily = 1;
constexpr uint32_t kLayoutFamilyPerPartition = 2;

std::string EventKey(PartitionId partition, Offset offset) {
  std::string key;
  key.reserve(12);
  PutBigEndian32(key, partition.value());
  PutBigEndian64(key, offset.value());
  return key;
}

uint32_t PartitionOfKey(std::string_view key) { return GetBigEndian32(key); }

std::string PartitionFamily(uint32_t partition) { return absl::StrCat("events.", partition); }

struct StoreOptions {
  rocksdb::DBOptions db;
  rocksdb::ColumnFamilyOptions family;  // every partition's family
};

StoreOptions LogStoreOptions() {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.IncreaseParallelism(2);
  // Families share one memtable budget and one block cache: memory stays the same whatever the
  // partition count. A family idle since an old write-ahead log file flushes once the files
  // reach kLogWalBytesMax, so the busy families' flushes let the files go.
  options.write_buffer_manager =
      std::make_shared<rocksdb::WriteBufferManager>(limits::kLogWriteBufferBytes);
  options.write_buffer_size = limits::kLogFamilyWriteBufferBytes;
  options.max_total_wal_size = limits::kLogWalBytesMax;
  // A partition's keys only grow, so its flushed files never overlap the files below them and
  // leveled compaction moves them down without rewriting them; levels sized from the bottom up
  // keep the data on the last level. One compression on every level keeps the moves trivial
  // (RocksDB rewrites a file bound for a level of another compression), so each byte is
  // compressed once, by the flush, and LZ4 is the cheapest to do that.
  options.level_compaction_dynamic_level_bytes = true;
  options.compression = rocksdb::kLZ4Compression;
  options.bottommost_compression = rocksdb::kDisableCompressionOption;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(limits::kLogBlockCacheBytes);
  // Index blocks live in the cache, so a long log does not hold every file's index in memory.
  table.cache_index_and_filter_blocks = true;
  // Reads are range scans: larger blocks, a smaller index.
  table.block_size = 16 << 10;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return {rocksdb::DBOptions(options), rocksdb::ColumnFamilyOptions(options)};
}

// The handles DB::Open returned, by family name. Whatever the log does not take is released
// when this goes away (before the DB closes).
class OpenFamilies {
 public:
  OpenFamilies(rocksdb::DB* db, const std::vector<std::string>& names,
               const std::vector<rocksdb::ColumnFamilyHandle*>& handles)
      : db_(db) {
    for (size_t i = 0; i < names.size(); i++) handles_[names[i]] = handles[i];
  }
  ~OpenFamilies() {
    for (auto& [name, handle] : handles_) db_->DestroyColumnFamilyHandle(handle);
  }
  OpenFamilies(const OpenFamilies&) = delete;
  OpenFamilies& operator=(const OpenFamilies&) = delete;

  rocksdb::ColumnFamilyHandle* Get(const std::string& name) const {
    auto it = handles_.find(name);
    return it == handles_.end() ? nullptr : it->second;
  }
  rocksdb::ColumnFamilyHandle* Take(const std::string& name) {
    auto it = handles_.find(name);
    if (it == handles_.end()) return nullptr;
    rocksdb::ColumnFamilyHandle* handle = it->second;
    handles_.erase(it);
    return handle;
  }

 private:
  rocksdb::DB* db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> handles_;
};

absl::StatusOr<std::optional<uint32_t>> ReadMetaNumber(rocksdb::DB& db,
                                                       rocksdb::ColumnFamilyHandle* meta,
                                                       const char* key) {
  std::string stored;
  rocksdb::Status s = db.Get(rocksdb::ReadOptions(), meta, key, &stored);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocks(s, "read log metadata"));
  if (stored.size() != 4) {
    return absl::DataLossError(absl::StrFormat("log metadata %s: %d bytes, not 4", key,
                                               stored.size()));
  }
  return GetBigEndian32(stored);
}

// Where a partition ends in one family: the offset after its last event and that event's hash
// (the genesis hash for an empty partition).
struct PartitionEnd {
  uint64_t end = 0;
  std::string tip;
};

absl::StatusOr<PartitionEnd> LastEvent(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family,
                                       uint32_t p) {
  PartitionEnd out{0, GenesisHash()};
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), family));
  it->SeekForPrev(EventKey(PartitionId(p), Offset(UINT64_MAX)));
  if (!it->Valid()) {
    RETURN_IF_ERROR(FromRocks(it->status(), "scan log"));
    return out;
  }
  const rocksdb::Slice key = it->key();
  if (key.size() != 12 || PartitionOfKey(std::string_view(key.data(), 4)) != p) return out;
  v1::Envelope last;
  if (!last.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
    return absl::DataLossError(absl::StrFormat("partition %d: last event does not parse", p));
  }
  out.end = GetBigEndian64(std::string_view(key.data() + 4, 8)) + 1;
  out.tip = last.hash();
  return out;
}

// Copies every event of the one-family layout into its partition's family (same key, same
// bytes), flushes the copies and checks that each partition ends at the same offset with the
// same chain tip in both. Nothing reads the partition families before the caller records the new
// layout version, so an interrupted copy is redone from the start at the next open.
absl::Status CopyFromOneFamily(rocksdb::DB& db, const std::string& dir,
                               rocksdb::ColumnFamilyHandle* one_family,
                               const std::vector<rocksdb::ColumnFamilyHandle*>& partitions) {
  LogInfo(absl::StrFormat(
      "log %s: copying the one-family layout into a family per partition (%d partitions)", dir,
      partitions.size()));
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 2 * 1024 * 1024;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(ro, one_family));
  // No write-ahead log: the flush below makes the copies durable before they count.
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  rocksdb::WriteBatch batch;
  uint64_t copied = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    if (key.size() != 12) {
      return absl::DataLossError(absl::StrFormat(
          "log %s: a key of %d bytes in family %s (keys are 12 bytes)", dir, key.size(),
          kOneFamilyName));
    }
    const uint32_t p = PartitionOfKey(std::string_view(key.data(), 4));
    if (p >= partitions.size()) {
      return absl::DataLossError(absl::StrFormat(
          "log %s: an event of partition %d in family %s, beyond the log's %d data partitions",
          dir, p, kOneFamilyName, partitions.size() - 1));
    }
    RETURN_IF_ERROR(FromRocks(batch.Put(partitions[p], key, it->value()), "copy the log"));
    copied++;
    if (batch.GetDataSize() >= limits::kGroupCommitBytesMax) {
      RETURN_IF_ERROR(FromRocks(db.Write(wo, &batch), "copy the log"));
      batch.Clear();
    }
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "read the one-family log"));
  if (batch.Count() > 0) RETURN_IF_ERROR(FromRocks(db.Write(wo, &batch), "copy the log"));
  rocksdb::FlushOptions flush;
  flush.wait = true;
  RETURN_IF_ERROR(FromRocks(db.Flush(flush, partitions), "flush the copied log"));

  for (uint32_t p = 0; p < partitions.size(); p++) {
    ASSIGN_OR_RETURN(const PartitionEnd before, LastEvent(db, one_family, p));
    ASSIGN_OR_RETURN(const PartitionEnd after, LastEvent(db, partitions[p], p));
    if (before.end != after.end || before.tip != after.tip) {
      return absl::DataLossError(absl::StrFormat(
          "log %s: partition %d ends at offset %d in family %s but at %d in its copy%s; the "
          "log is left in the one-family layout",
          dir, p, before.end, kOneFamilyName, after.end,
          before.end == after.end ? " with another chain tip" : ""));
    }
  }
  LogInfo(absl::StrFormat("log %s: copied %d events; ends and chain tips match", dir, copied));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<LogPosition>> AppendAndWait(EventLog& log,
                                                       std::vector<v1::Envelope> events) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  absl::StatusOr<std::vector<LogPosition>> result;
  log.Append(std::move(events), [&](absl::StatusOr<std::vector<LogPosition>> r) {
    std::lock_guard<std::mutex> lock(mu);
    result = std::move(r);
    finished = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return finished; });
  return result;
}

absl::StatusOr<std::unique_ptr<EmbeddedLog>> EmbeddedLog::Open(const EmbeddedLogOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create log directory ", options.dir, ": ", ec.message()));
  }
  if (options.data_partitions > limits::kDataPartitionsMax) {
    return absl::InvalidArgumentError(absl::StrFormat("data_partitions: at most %d",
                                                      limits::kDataPartitionsMax));
  }

  const StoreOptions store = LogStoreOptions();
  // DB::Open must name every family the directory has; a new directory has none yet.
  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, kMetaFamily};
  if (std::filesystem::exists(std::filesystem::path(options.dir) / "CURRENT")) {
    std::vector<std::string> existing;
    RETURN_IF_ERROR(FromRocks(rocksdb::DB::ListColumnFamilies(store.db, options.dir, &existing),
                              absl::StrCat("list the families of log ", options.dir)));
    for (std::string& name : existing) {
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(std::move(name));
      }
    }
  }
  // The one-family layout's family is only read (copied) and then dropped: no compaction, and
  // its levels as they are.
  rocksdb::ColumnFamilyOptions one_family_options = store.family;
  one_family_options.disable_auto_compactions = true;
  one_family_options.level_compaction_dynamic_level_bytes = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) {
    families.emplace_back(name, name == kOneFamilyName ? one_family_options : store.family);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(store.db, options.dir, families, &handles, &raw),
                            absl::StrCat("open log ", options.dir)));

  auto log = std::unique_ptr<EmbeddedLog>(new EmbeddedLog());
  log->db_.reset(raw);
  log->sync_ = options.sync;
  OpenFamilies open(raw, names, handles);
  rocksdb::DB& db = *log->db_;
  log->meta_cf_ = open.Take(kMetaFamily);

  ASSIGN_OR_RETURN(const std::optional<uint32_t> stored_partitions,
                   ReadMetaNumber(db, log->meta_cf_, kPartitionsKey));
  ASSIGN_OR_RETURN(const std::optional<uint32_t> stored_layout,
                   ReadMetaNumber(db, log->meta_cf_, kLayoutKey));
  if (stored_partitions) {
    if (options.data_partitions != 0 && options.data_partitions != *stored_partitions) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data_partitions: the log at %s has %d data partitions, not %d (partitions of an "
          "event log never change: keys would move)",
          options.dir, *stored_partitions, options.data_partitions));
    }
    log->data_partitions_ = *stored_partitions;
  } else {
    log->data_partitions_ =
        options.data_partitions != 0 ? options.data_partitions : limits::kDataPartitionsDefault;
  }
  const uint32_t layout = stored_layout.value_or(
      open.Get(kOneFamilyName) != nullptr ? kLayoutOneFamily : kLayoutFamilyPerPartition);
  if (layout != kLayoutOneFamily && layout != kLayoutFamilyPerPartition) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the log at %s has layout version %d; this server knows versions %d and %d: open it "
        "with the version that wrote it",
        options.dir, layout, kLayoutOneFamily, kLayoutFamilyPerPartition));
  }

  // One family per partition: the ones the directory has, then the missing ones.
  const uint32_t partitions = log->data_partitions_ + 1;
  log->partition_cfs_.assign(partitions, nullptr);
  std::vector<std::string> missing;
  std::vector<uint32_t> missing_partitions;
  for (uint32_t p = 0; p < partitions; p++) {
    log->partition_cfs_[p] = open.Take(PartitionFamily(p));
    if (log->partition_cfs_[p] == nullptr) {
      missing.push_back(PartitionFamily(p));
      missing_partitions.push_back(p);
    }
  }
  if (!missing.empty()) {
    std::vector<rocksdb::ColumnFamilyHandle*> created;
    rocksdb::Status s = db.CreateColumnFamilies(store.family, missing, &created);
    for (size_t i = 0; i < created.size(); i++) {
      log->partition_cfs_[missing_partitions[i]] = created[i];
    }
    RETURN_IF_ERROR(FromRocks(s, absl::StrCat("create the partition families of log ",
                                              options.dir)));
  }

  if (layout == kLayoutOneFamily) {
    RETURN_IF_ERROR(
        CopyFromOneFamily(db, options.dir, open.Get(kOneFamilyName), log->partition_cfs_));
  }
  if (stored_partitions != log->data_partitions_ || stored_layout != kLayoutFamilyPerPartition) {
    // One synced write records both: from here on the partition families are the log.
    std::string count, version;
    PutBigEndian32(count, log->data_partitions_);
    PutBigEndian32(version, kLayoutFamilyPerPartition);
    rocksdb::WriteBatch meta;
    RETURN_IF_ERROR(FromRocks(meta.Put(log->meta_cf_, kPartitionsKey, count), "log metadata"));
    RETURN_IF_ERROR(FromRocks(meta.Put(log->meta_cf_, kLayoutKey, version), "log metadata"));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(FromRocks(db.Write(wo, &meta), "write log metadata"));
  }
  if (rocksdb::ColumnFamilyHandle* one_family = open.Get(kOneFamilyName)) {
    // Copied (now or at an earlier open that stopped before this point): the family goes.
    RETURN_IF_ERROR(FromRocks(db.DropColumnFamily(one_family),
                              absl::StrCat("drop family events of log ", options.dir)));
    if (layout == kLayoutOneFamily) {
      LogInfo(absl::StrFormat("log %s: now in the family-per-partition layout", options.dir));
    }
  }

  // Recover each partition's end and chain tip from its last stored event.
  std::vector<DurableTail> tails;
  for (uint32_t p = 0; p < partitions; p++) {
    ASSIGN_OR_RETURN(PartitionEnd end, LastEvent(db, log->partition_cfs_[p], p));
    tails.push_back({Offset(end.end), end.end, std::move(end.tip)});
  }
  GroupCommit::Options writer;
  writer.offsets = OffsetSource::kSequence;
  writer.thread_name = "pl-commit";
  writer.log_name = absl::StrCat("log ", options.dir);
  GroupCommit::Sink* sink = log.get();
  log->writer_ = std::make_unique<GroupCommit>(std::move(writer), std::move(tails), sink);
  return log;
}

EmbeddedLog::~EmbeddedLog() {
  // Queued appends complete first; then the store goes.
  writer_.reset();
  if (db_) {
    for (rocksdb::ColumnFamilyHandle* family : partition_cfs_) {
      if (family != nullptr) db_->DestroyColumnFamilyHandle(family);
    }
    if (meta_cf_ != nullptr) db_->DestroyColumnFamilyHandle(meta_cf_);
    db_->Close().PermitUncheckedError();
  }
}

void EmbeddedLog::Append(AppendBatch batch, AppendDone done) {
  writer_->Append(std::move(batch), std::move(done));
}

absl::StatusOr<std::string> EmbeddedLog::Encode(v1::Envelope& sealed) {
  // Stored with its position: offsets are sequences, known at sealing.
  return sealed.SerializeAsString();
}

absl::Status EmbeddedLog::Write(std::vector<SealedAppend>& group, GroupFailure& /*failure*/) {
  // Keys in order: the memtable's skiplist insert resumes from the previous key's place, so
  // sorted (partition, offset) keys skip most of the search that a group's interleaved
  // partitions would pay from the top. Same keys and values, still one atomic write.
  struct Row {
    std::string key;
    const std::string* value;
    uint32_t partition;
  };
  std::vector<Row> rows;
  for (const SealedAppend& a : group) {
    for (size_t i = 0; i < a.values.size(); i++) {
      rows.push_back({EventKey(a.positions[i].partition, a.positions[i].offset), &a.values[i],
                      a.positions[i].partition.value()});
    }
  }
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.key < y.key; });
  rocksdb::WriteBatch batch;
  for (const Row& row : rows) {
    batch.Put(partition_cfs_[row.partition], row.key, *row.value).PermitUncheckedError();
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  // A failure is final here: the log refuses writes until it is reopened (embedded_log.h).
  return FromRocks(db_->Write(wo, &batch), "append to the log");
}

absl::StatusOr<std::vector<StoredEvent>> EmbeddedLog::Read(PartitionId partition, Offset from,
                                                           size_t max_events) {
  std::vector<StoredEvent> out;
  absl::Status parsed;
  RETURN_IF_ERROR(ScanRange(partition, from, max_events, rocksdb::ReadOptions(),
                            [&](Offset offset, std::string_view bytes) {
                              StoredEvent& e = out.emplace_back();
                              if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
                                parsed = absl::DataLossError(absl::StrFormat(
                                    "partition %d offset %d: event does not parse", partition,
                                    offset));
                                return false;
                              }
                              return true;
                            }));
  RETURN_IF_ERROR(parsed);
  return out;
}

absl::Status EmbeddedLog::ReadOnArena(PartitionId partition, Offset from, size_t max_events,
                                      google::protobuf::Arena& arena,
                                      std::vector<StoredEvent*>& out,
                                      std::vector<std::string_view>& bytes) {
  // The stored value is the envelope's serialization (Append), kept as is.
  absl::Status parsed;
  RETURN_IF_ERROR(ScanRange(partition, from, max_events, rocksdb::ReadOptions(),
                            [&](Offset offset, std::string_view stored) {
                              char* copy = google::protobuf::Arena::CreateArray<char>(
                                  &arena, stored.size());
                              std::memcpy(copy, stored.data(), stored.size());
                              auto* e = google::protobuf::Arena::CreateMessage<StoredEvent>(&arena);
                              if (!e->ParseFromArray(copy, static_cast<int>(stored.size()))) {
                                parsed = absl::DataLossError(absl::StrFormat(
                                    "partition %d offset %d: event does not parse", partition,
                                    offset));
                                return false;
                              }
                              out.push_back(e);
                              bytes.emplace_back(copy, stored.size());
                              return true;
                            }));
  return parsed;
}

absl::Status EmbeddedLog::ScanStored(PartitionId partition, Offset from, size_t max_events,
                                     const std::function<bool(Offset, std::string_view)>& visit) {
  rocksdb::ReadOptions ro;
  // A one-pass scan: keep the block cache for the readers that come back, read ahead.
  ro.fill_cache = false;
  ro.readahead_size = 2 * 1024 * 1024;
  return ScanRange(partition, from, max_events, ro, visit);
}

absl::Status EmbeddedLog::ScanRange(PartitionId partition, Offset from, size_t max_events,
                                    rocksdb::ReadOptions ro,
                                    const std::function<bool(Offset, std::string_view)>& visit) {
  RETURN_IF_ERROR(CheckReadPartition(partition, data_partitions_ + 1));
  const Offset end = writer_->Ends()[partition];
  if (from >= end || max_events == 0) return absl::OkStatus();
  const Offset stop = from + std::min<uint64_t>(max_events, end - from);
  const std::string upper = EventKey(partition, stop);
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(ro, partition_cfs_[partition.value()]));
  for (it->Seek(EventKey(partition, from)); it->Valid(); it->Next()) {
    const Offset offset(GetBigEndian64(std::string_view(it->key().data() + 4, 8)));
    if (!visit(offset, std::string_view(it->value().data(), it->value().size()))) break;
  }
  return FromRocks(it->status(), "read the log");
}

LogEnds EmbeddedLog::Ends() { return writer_->Ends(); }

LogEnds EmbeddedLog::WaitForAppend(const LogEnds& seen, absl::Time deadline) {
  return writer_->WaitForAppend(seen, deadline);
}

std::vector<std::string> EmbeddedLog::ChainTips() { return writer_->Tips(); }

LogSummary EmbeddedLog::Summary() { return writer_->Summary(); }

void EmbeddedLog::Close() { writer_->Close(); }

EmbeddedLogStats EmbeddedLog::stats() {
  const GroupCommitStats s = writer_->stats();
  return {s.appends, s.group_commits, s.events};
}

std::string EmbeddedLog::StoredKey(LogPosition at) { return EventKey(at.partition, at.offset); }

}  // namespace perfledger
