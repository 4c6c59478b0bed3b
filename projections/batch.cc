#include "projections/batch.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_format.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/status_macros.h"

namespace perfledger::projections {

uint64_t EventsBetween(const LogEnds& from, const LogEnds& to) {
  uint64_t n = 0;
  for (PartitionId p : from.partitions()) {
    if (!to.contains(p)) break;
    if (to[p] > from[p]) n += to[p] - from[p];
  }
  return n;
}

absl::StatusOr<Batch> ReadBatch(EventLog& log, const LogEnds& from, const LogEnds& ends,
                                size_t events) {
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
  auto gather_partition = [&](PartitionId p, size_t budget) -> absl::Status {
    while (budget > 0 && applied[p] < ends[p]) {
      read.clear();
      read_bytes.clear();
      RETURN_IF_ERROR(log.ReadOnArena(p, applied[p],
                                      std::min<size_t>(budget, limits::kReadLimitMax),
                                      *batch.arena, read, read_bytes));
      if (read.empty()) return absl::OkStatus();
      for (size_t i = 0; i < read.size(); i++) {
        StoredEvent* e = read[i];
        // A data event waits for the control stream it was decided against.
        if (p != kControlPartition &&
            Offset(e->control_version()) > applied[kControlPartition]) {
          return absl::OkStatus();
        }
        const Offset at(e->position().offset());
        PL_CHECK(at >= applied[p]);
        applied[p] = at + 1;
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
  for (PartitionId p : DataPartitions(applied.size())) {
    RETURN_IF_ERROR(gather_partition(p, share));
  }

  return batch;
}

absl::Status ParsePayloads(Batch& batch, ApplyPool& pool) {
  const size_t n = batch.stored.size();
  batch.events.assign(n, nullptr);
  // One contiguous share per thread. A share stops at its first failure; the smallest failing
  // index over all of them is the batch's first.
  const size_t shares = pool.threads();
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
  pool.ShareOut(n, shares, parse);
  if (const size_t bad = first_bad.load(); bad < n) {
    return absl::DataLossError(absl::StrFormat("partition %d offset %d: payload does not parse",
                                               batch.stored[bad]->position().partition(),
                                               batch.stored[bad]->position().offset()));
  }
  return absl::OkStatus();
}

BatchReader::~BatchReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchReader::ReadAheadLoop() {
  NameThisThread(thread_name_);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || job_.has_value(); });
    if (stop_) return;
    const Job job = std::move(*job_);
    job_.reset();
    reading_ = true;
    lock.unlock();
    absl::StatusOr<Batch> batch = ReadBatch(*log_, job.from, job.ends, job.events);
    lock.lock();
    next_ = std::move(batch);
    reading_ = false;
    cv_.notify_all();
  }
}

absl::StatusOr<Batch> BatchReader::Read(const LogEnds& from, const LogEnds& ends,
                                        size_t events) {
  std::optional<Batch> ahead = std::move(prefetched_);
  prefetched_.reset();
  if (ahead && ahead->from == from) return std::move(*ahead);
  return ReadBatch(*log_, from, ends, events);
}

void BatchReader::StartReadAhead(const LogEnds& from, const LogEnds& ends, size_t events) {
  if (!thread_.joinable()) thread_ = std::thread([this] { ReadAheadLoop(); });
  {
    std::lock_guard<std::mutex> lock(mu_);
    PL_CHECK(!job_ && !reading_);
    next_.reset();
    job_ = Job{from, ends, events};
  }
  cv_.notify_all();
}

void BatchReader::FinishReadAhead() {
  std::optional<absl::StatusOr<Batch>> next;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !job_ && !reading_; });
    next = std::move(next_);
    next_.reset();
  }
  if (next && next->ok() && !next->value().empty()) prefetched_ = std::move(next->value());
}

void BatchReader::Reset() {
  FinishReadAhead();
  prefetched_.reset();
}

}  // namespace perfledger::projections
