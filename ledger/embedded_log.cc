#include "ledger/embedded_log.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace perfledger {
namespace {

constexpr char kEventsFamily[] = "events";
constexpr char kMetaFamily[] = "meta";
constexpr char kPartitionsKey[] = "data_partitions";

std::string EventKey(uint32_t partition, uint64_t offset) {
  std::string key;
  key.reserve(12);
  PutBigEndian32(key, partition);
  PutBigEndian64(key, offset);
  return key;
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

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // The log is written sequentially and read by range: keys never repeat, so a large write
  // buffer and no bloom filter; compaction keeps the ordering cheap to scan.
  db_options.write_buffer_size = 64 << 20;
  db_options.max_background_jobs = 2;
  db_options.IncreaseParallelism(2);
  // Compress once, where the data comes to rest: flushes and the upper levels' compactions
  // handle every byte again soon, and compressing there cost ~7% of an ingested event's CPU.
  db_options.compression = rocksdb::kNoCompression;
  db_options.bottommost_compression = rocksdb::kSnappyCompression;
  rocksdb::ColumnFamilyOptions cf_options(db_options);
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {kEventsFamily, cf_options},
      {kMetaFamily, cf_options},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(db_options, options.dir, families, &handles, &raw),
                            absl::StrCat("open log ", options.dir)));

  auto log = std::unique_ptr<EmbeddedLog>(new EmbeddedLog());
  log->db_.reset(raw);
  // handles[0] is the default family; the DB owns it and we never use it.
  log->db_->DestroyColumnFamilyHandle(handles[0]);
  log->events_cf_ = handles[1];
  log->meta_cf_ = handles[2];
  log->sync_ = options.sync;

  std::string stored;
  rocksdb::Status s = log->db_->Get(rocksdb::ReadOptions(), log->meta_cf_, kPartitionsKey, &stored);
  if (s.ok()) {
    const uint32_t existing = GetBigEndian32(stored);
    if (options.data_partitions != 0 && options.data_partitions != existing) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data_partitions: the log at %s has %d data partitions, not %d (partitions of an "
          "event log never change: keys would move)",
          options.dir, existing, options.data_partitions));
    }
    log->data_partitions_ = existing;
  } else if (s.IsNotFound()) {
    log->data_partitions_ =
        options.data_partitions != 0 ? options.data_partitions : limits::kDataPartitionsDefault;
    std::string value;
    PutBigEndian32(value, log->data_partitions_);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    RETURN_IF_ERROR(FromRocks(log->db_->Put(wo, log->meta_cf_, kPartitionsKey, value),
                              "write log metadata"));
  } else {
    return FromRocks(s, "read log metadata");
  }

  // Recover each partition's end and chain tip from its last stored event.
  const uint32_t partitions = log->data_partitions_ + 1;
  log->next_offset_.assign(partitions, 0);
  log->tip_.assign(partitions, GenesisHash());
  std::unique_ptr<rocksdb::Iterator> it(log->db_->NewIterator(rocksdb::ReadOptions(),
                                                              log->events_cf_));
  for (uint32_t p = 0; p < partitions; p++) {
    it->SeekForPrev(EventKey(p, UINT64_MAX));
    if (!it->Valid()) {
      RETURN_IF_ERROR(FromRocks(it->status(), "scan log"));
      continue;
    }
    const rocksdb::Slice key = it->key();
    if (key.size() != 12 || GetBigEndian32(std::string_view(key.data(), 4)) != p) continue;
    v1::Envelope last;
    if (!last.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrFormat("partition %d: last event does not parse", p));
    }
    const uint64_t offset = GetBigEndian64(std::string_view(key.data() + 4, 8));
    log->next_offset_[p] = offset + 1;
    log->tip_[p] = last.hash();
  }
  log->durable_ends_ = log->next_offset_;
  log->committer_ = std::thread([l = log.get()] {
    NameThisThread("pl-commit");
    l->CommitLoop();
  });
  return log;
}

EmbeddedLog::~EmbeddedLog() {
  Close();
  if (committer_.joinable()) committer_.join();
  if (db_) {
    db_->DestroyColumnFamilyHandle(events_cf_);
    db_->DestroyColumnFamilyHandle(meta_cf_);
    db_->Close().PermitUncheckedError();
  }
}

void EmbeddedLog::Append(AppendBatch batch, AppendDone done) {
  std::vector<v1::Envelope>& events = *batch;
  if (events.empty()) {
    done(std::vector<LogPosition>{});
    return;
  }
  if (absl::Status s = CheckAppendBatch(events, data_partitions_ + 1); !s.ok()) {
    done(std::move(s));
    return;
  }

  std::unique_lock<std::mutex> lock(mu_);
  space_cv_.wait(lock, [&] {
    return closed_ || !failed_.ok() || queue_.size() < limits::kAppendQueueDepthMax;
  });
  if (closed_ || !failed_.ok()) {
    absl::Status error = closed_ ? absl::UnavailableError("the log is closed")
                                 : absl::UnavailableError(absl::StrCat(
                                       "the log refuses writes after a failed write: ",
                                       failed_.message()));
    lock.unlock();
    done(error);
    return;
  }

  // Sealing happens here, under the lock, because the chain and the offsets are ordered by it.
  Pending pending;
  pending.keys.reserve(events.size());
  pending.values.reserve(events.size());
  pending.positions.reserve(events.size());
  const google::protobuf::Timestamp recorded_at = ToTimestamp(absl::Now());
  std::vector<uint64_t> rollback = next_offset_;
  std::vector<std::string> rollback_tip;
  for (auto& e : events) {
    const uint32_t p = e.position().partition();
    const uint64_t offset = next_offset_[p]++;
    e.mutable_position()->set_offset(offset);
    *e.mutable_recorded_at() = recorded_at;
    SealEnvelope(e, tip_[p], offset);
    tip_[p] = e.hash();
    pending.keys.push_back(EventKey(p, offset));
    pending.values.push_back(e.SerializeAsString());
    pending.bytes += pending.values.back().size();
    pending.positions.push_back({p, offset});
  }
  if (pending.bytes > limits::kBatchBytesMax) {
    // Undo the reservation: nothing of this batch reached the queue.
    next_offset_ = std::move(rollback);
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      tip_[it->position().partition()] = it->prev_hash();
    }
    lock.unlock();
    done(absl::ResourceExhaustedError(absl::StrFormat(
        "batch: %d bytes, at most %d in one append", pending.bytes, limits::kBatchBytesMax)));
    return;
  }
  pending.done = std::move(done);
  queue_.push_back(std::move(pending));
  stats_.appends++;
  queue_cv_.notify_one();
}

void EmbeddedLog::CommitLoop() {
  std::vector<Pending> group;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      queue_cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closed and drained
      size_t events = 0, bytes = 0;
      while (!queue_.empty()) {
        Pending& next = queue_.front();
        if (!group.empty() && (events + next.keys.size() > limits::kGroupCommitEventsMax ||
                               bytes + next.bytes > limits::kGroupCommitBytesMax)) {
          break;
        }
        events += next.keys.size();
        bytes += next.bytes;
        group.push_back(std::move(next));
        queue_.pop_front();
      }
      space_cv_.notify_all();
    }

    // Keys in order: the memtable's skiplist insert resumes from the previous key's place, so
    // sorted (partition, offset) keys skip most of the search that a group's interleaved
    // partitions would pay from the top. Same keys and values, still one atomic write.
    std::vector<std::pair<const std::string*, const std::string*>> rows;
    for (const Pending& p : group) {
      for (size_t i = 0; i < p.keys.size(); i++) rows.emplace_back(&p.keys[i], &p.values[i]);
    }
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return *a.first < *b.first; });
    rocksdb::WriteBatch batch;
    for (const auto& [key, value] : rows) {
      batch.Put(events_cf_, *key, *value).PermitUncheckedError();
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync_;
    absl::Status status = FromRocks(db_->Write(wo, &batch), "append to the log");

    std::vector<Pending> failed_queue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (status.ok()) {
        for (const Pending& p : group) {
          for (const LogPosition& pos : p.positions) {
            durable_ends_[pos.partition] = pos.offset + 1;
            stats_.events++;
          }
        }
        stats_.group_commits++;
        appended_cv_.notify_all();
      } else {
        failed_ = status;
        // Everything queued behind the failed write was sealed against it: fail it too.
        while (!queue_.empty()) {
          failed_queue.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        space_cv_.notify_all();
        appended_cv_.notify_all();
      }
    }
    for (Pending& p : group) {
      if (status.ok()) {
        p.done(std::move(p.positions));
      } else {
        p.done(absl::UnavailableError(absl::StrCat("append failed: ", status.message())));
      }
    }
    for (Pending& p : failed_queue) {
      p.done(absl::UnavailableError(absl::StrCat("append failed: ", status.message())));
    }
    group.clear();
  }
}

absl::StatusOr<std::vector<StoredEvent>> EmbeddedLog::Read(uint32_t partition,
                                                           uint64_t from_offset,
                                                           size_t max_events) {
  std::vector<StoredEvent> out;
  absl::Status parsed;
  RETURN_IF_ERROR(ScanRange(partition, from_offset, max_events, rocksdb::ReadOptions(),
                            [&](uint64_t offset, std::string_view bytes) {
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

absl::Status EmbeddedLog::ReadOnArena(uint32_t partition, uint64_t from_offset,
                                      size_t max_events, google::protobuf::Arena& arena,
                                      std::vector<StoredEvent*>& out,
                                      std::vector<std::string_view>& bytes) {
  // The stored value is the envelope's serialization (Append), kept as is.
  absl::Status parsed;
  RETURN_IF_ERROR(ScanRange(partition, from_offset, max_events, rocksdb::ReadOptions(),
                            [&](uint64_t offset, std::string_view stored) {
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

absl::Status EmbeddedLog::ScanStored(
    uint32_t partition, uint64_t from_offset, size_t max_events,
    const std::function<bool(uint64_t, std::string_view)>& visit) {
  rocksdb::ReadOptions ro;
  // A one-pass scan: keep the block cache for the readers that come back, read ahead.
  ro.fill_cache = false;
  ro.readahead_size = 2 * 1024 * 1024;
  return ScanRange(partition, from_offset, max_events, ro, visit);
}

absl::Status EmbeddedLog::ScanRange(uint32_t partition, uint64_t from_offset, size_t max_events,
                                    rocksdb::ReadOptions ro,
                                    const std::function<bool(uint64_t, std::string_view)>& visit) {
  uint64_t end;
  {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(CheckReadPartition(partition, durable_ends_.size()));
    end = durable_ends_[partition];
  }
  if (from_offset >= end || max_events == 0) return absl::OkStatus();
  const uint64_t stop = from_offset + std::min<uint64_t>(max_events, end - from_offset);
  const std::string upper = EventKey(partition, stop);
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_cf_));
  for (it->Seek(EventKey(partition, from_offset)); it->Valid(); it->Next()) {
    const uint64_t offset = GetBigEndian64(std::string_view(it->key().data() + 4, 8));
    if (!visit(offset, std::string_view(it->value().data(), it->value().size()))) break;
  }
  return FromRocks(it->status(), "read the log");
}

LogEnds EmbeddedLog::Ends() {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_ends_;
}

LogEnds EmbeddedLog::WaitForAppend(const LogEnds& seen, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto until = absl::ToChronoTime(deadline);
  appended_cv_.wait_until(lock, until, [&] { return closed_ || durable_ends_ != seen; });
  return durable_ends_;
}

std::vector<std::string> EmbeddedLog::ChainTips() {
  // Tips of durable events only: read each partition's last durable event.
  LogEnds ends = Ends();
  std::vector<std::string> tips(ends.size(), GenesisHash());
  for (uint32_t p = 0; p < ends.size(); p++) {
    if (ends[p] == 0) continue;
    auto last = Read(p, ends[p] - 1, 1);
    if (last.ok() && !last->empty()) tips[p] = last->front().hash();
  }
  return tips;
}

void EmbeddedLog::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  queue_cv_.notify_all();
  space_cv_.notify_all();
  appended_cv_.notify_all();
}

EmbeddedLogStats EmbeddedLog::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

absl::Status EmbeddedLog::TamperForTest(LogPosition at, const v1::Envelope& replacement) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, events_cf_, EventKey(at.partition, at.offset),
                            replacement.SerializeAsString()),
                   "tamper");
}

}  // namespace perfledger
