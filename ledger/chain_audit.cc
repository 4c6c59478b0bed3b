#include "ledger/chain_audit.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"

namespace perfledger {
namespace {

// The outcome of one partition: how far it verified, and its first broken link if any.
struct PartitionOutcome {
  v1::PartitionChain chain;
  std::optional<v1::BrokenLink> broken;
  absl::Status error;
};

struct SharedProgress {
  std::atomic<uint64_t> done{0};
  std::atomic<bool> cancel{false};
};

v1::BrokenLink Broken(uint32_t partition, uint64_t offset, std::string event_id,
                      std::string expected, std::string found, std::string reason) {
  v1::BrokenLink b;
  b.set_partition(partition);
  b.set_offset(offset);
  b.set_event_id(std::move(event_id));
  b.set_expected_hash(std::move(expected));
  b.set_found_hash(std::move(found));
  b.set_reason(std::move(reason));
  return b;
}

// The first link of `e` that does not verify, given the chain so far. ComputeHashInPlace
// leaves `e` as it was.
std::optional<v1::BrokenLink> CheckLink(v1::Envelope& e, uint32_t partition,
                                        const std::string& prev, uint64_t sequence) {
  const uint64_t offset = e.position().offset();
  if (e.sequence() != sequence) {
    return Broken(partition, offset, e.event_id(), prev, e.prev_hash(),
                  absl::StrFormat("sequence is %d, expected %d (an event is missing, added or "
                                  "moved)",
                                  e.sequence(), sequence));
  }
  if (e.prev_hash() != prev) {
    return Broken(partition, offset, e.event_id(), prev, e.prev_hash(),
                  "prev_hash does not match the previous event's hash");
  }
  if (!e.payload().empty()) {
    std::string digest = Sha256(e.payload());
    if (digest != e.payload_sha256()) {
      return Broken(partition, offset, e.event_id(), std::move(digest), e.payload_sha256(),
                    "payload does not match payload_sha256");
    }
  }
  std::string hash = ComputeHashInPlace(e);
  if (hash != e.hash()) {
    return Broken(partition, offset, e.event_id(), std::move(hash), e.hash(),
                  "hash does not match the envelope");
  }
  return std::nullopt;
}

// Verifies partition `p` up to `end` (exclusive), and the digest point when given.
PartitionOutcome CheckPartition(EventLog& log, uint32_t p, uint64_t end,
                                const v1::DigestEntry* point, SharedProgress& progress) {
  PartitionOutcome out;
  out.chain.set_partition(p);
  std::string tip = GenesisHash();
  std::string tip_event_id;
  uint64_t tip_offset = 0;
  uint64_t sequence = 0;
  uint64_t next = 0;
  bool point_checked = point == nullptr;
  // The digest's hash must be the chain's hash at the last event before its next_offset.
  auto check_point = [&]() -> std::optional<v1::BrokenLink> {
    point_checked = true;
    if (tip == point->hash()) return std::nullopt;
    return Broken(p, point->next_offset() == 0 ? 0 : tip_offset, tip_event_id, point->hash(), tip,
                  absl::StrFormat("the chain hash before offset %d differs from the digest's "
                                  "(the log was rewritten up to there)",
                                  point->next_offset()));
  };
  auto finish = [&] {
    out.chain.set_events(sequence);
    out.chain.set_next_offset(next);
    out.chain.set_tip_hash(tip);
  };
  uint64_t from = 0;
  while (from < end && !progress.cancel.load(std::memory_order_relaxed)) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(limits::kAuditReadBatchEvents, end - from));
    auto batch = log.Read(p, from, want);
    if (!batch.ok() && batch.status().code() == absl::StatusCode::kDataLoss) {
      // An event that does not even parse: find it one by one and name it.
      for (uint64_t o = from; o < from + want; o++) {
        if (log.Read(p, o, 1).ok()) continue;
        out.broken = Broken(p, o, "", tip, "", "the stored event does not parse");
        break;
      }
      if (!out.broken) out.error = batch.status();
      finish();
      return out;
    }
    if (!batch.ok()) {
      out.error = batch.status();
      finish();
      return out;
    }
    if (batch->empty()) break;  // Kafka: only transaction markers up to the end
    for (v1::Envelope& e : *batch) {
      const uint64_t offset = e.position().offset();
      if (offset >= end) break;
      if (!point_checked && offset >= point->next_offset()) {
        if ((out.broken = check_point())) {
          finish();
          return out;
        }
      }
      if ((out.broken = CheckLink(e, p, tip, sequence))) {
        finish();
        return out;
      }
      tip = e.hash();
      tip_event_id = e.event_id();
      tip_offset = offset;
      sequence++;
      next = offset + 1;
    }
    progress.done.fetch_add(batch->size(), std::memory_order_relaxed);
    from = batch->back().position().offset() + 1;
  }
  next = std::max(next, end);
  if (!point_checked && !progress.cancel.load()) {
    if (end < point->next_offset()) {
      out.broken = Broken(p, end, "", point->hash(), tip,
                          absl::StrFormat("the log ends at offset %d, before the digest's "
                                          "next_offset %d (events were removed)",
                                          end, point->next_offset()));
    } else {
      out.broken = check_point();
    }
  }
  finish();
  return out;
}

absl::StatusOr<v1::ChainVerdict> Check(EventLog& log, const v1::LogDigest* digest,
                                       const ChainCheckOptions& options) {
  const absl::Time started = absl::Now();
  const LogEnds ends = log.Ends();
  const uint32_t partitions = static_cast<uint32_t>(ends.size());
  std::vector<const v1::DigestEntry*> points(partitions, nullptr);
  if (digest != nullptr) {
    for (const auto& entry : digest->entries()) points[entry.partition()] = &entry;
  }
  uint64_t total = 0;
  for (uint64_t e : ends) total += e;

  SharedProgress progress;
  std::vector<PartitionOutcome> outcomes(partitions);
  std::atomic<uint32_t> next_partition{0};
  std::atomic<unsigned> running{0};
  std::mutex mu;
  std::condition_variable cv;
  unsigned threads = options.threads != 0 ? options.threads
                                          : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min<unsigned>(threads, std::max<uint32_t>(1, partitions));
  std::vector<std::thread> workers;
  running.store(threads);
  for (unsigned t = 0; t < threads; t++) {
    workers.emplace_back([&] {
      for (uint32_t p = next_partition.fetch_add(1); p < partitions;
           p = next_partition.fetch_add(1)) {
        outcomes[p] = CheckPartition(log, p, ends[p], points[p], progress);
      }
      std::lock_guard<std::mutex> lock(mu);
      running.fetch_sub(1);
      cv.notify_all();
    });
  }
  // Progress is reported from this thread (the caller's stream), never from the workers.
  const uint64_t every = std::max<uint64_t>(1, options.progress_every);
  uint64_t next_report = every;
  {
    std::unique_lock<std::mutex> lock(mu);
    while (running.load() > 0) {
      cv.wait_for(lock, std::chrono::milliseconds(50));
      const uint64_t done = progress.done.load();
      if (options.progress && done >= next_report && !progress.cancel.load()) {
        lock.unlock();
        if (!options.progress(done, total)) progress.cancel.store(true);
        lock.lock();
        next_report = (done / every + 1) * every;
      }
    }
  }
  for (auto& w : workers) w.join();
  if (progress.cancel.load()) return absl::CancelledError("chain check cancelled");
  // A check that finished between two polls still reports where it ended, so a caller sees at
  // least one progress message whenever the log holds progress_every events or more.
  if (options.progress && progress.done.load() >= next_report &&
      !options.progress(progress.done.load(), total)) {
    return absl::CancelledError("chain check cancelled");
  }

  v1::ChainVerdict verdict;
  verdict.set_ok(true);
  for (PartitionOutcome& o : outcomes) {
    RETURN_IF_ERROR(o.error);
    verdict.set_events_checked(verdict.events_checked() + o.chain.events());
    if (o.broken && verdict.ok()) {
      verdict.set_ok(false);
      *verdict.mutable_broken() = std::move(*o.broken);
    }
    *verdict.add_partitions() = std::move(o.chain);
  }
  verdict.set_seconds(absl::ToDoubleSeconds(absl::Now() - started));
  return verdict;
}

}  // namespace

absl::StatusOr<v1::ChainVerdict> VerifyChain(EventLog& log, const ChainCheckOptions& options) {
  return Check(log, nullptr, options);
}

absl::StatusOr<v1::LogDigest> TakeDigest(EventLog& log) {
  const LogEnds ends = log.Ends();
  v1::LogDigest digest;
  for (uint32_t p = 0; p < ends.size(); p++) {
    v1::DigestEntry* entry = digest.add_entries();
    entry->set_partition(p);
    entry->set_next_offset(ends[p]);
    entry->set_hash(GenesisHash());
    if (ends[p] == 0) continue;
    // Kafka may end a partition with transaction markers: widen the window until an event shows.
    uint64_t window = 1;
    while (true) {
      const uint64_t from = ends[p] > window ? ends[p] - window : 0;
      ASSIGN_OR_RETURN(auto batch, log.Read(p, from, static_cast<size_t>(ends[p] - from)));
      const v1::Envelope* last = nullptr;
      for (const auto& e : batch) {
        if (e.position().offset() < ends[p]) last = &e;
      }
      if (last != nullptr) {
        entry->set_hash(last->hash());
        if (!digest.has_newest_recorded_at() ||
            last->recorded_at().seconds() > digest.newest_recorded_at().seconds() ||
            (last->recorded_at().seconds() == digest.newest_recorded_at().seconds() &&
             last->recorded_at().nanos() > digest.newest_recorded_at().nanos())) {
          *digest.mutable_newest_recorded_at() = last->recorded_at();
        }
        break;
      }
      if (from == 0) break;
      window = std::min<uint64_t>(window * 2, limits::kAuditReadBatchEvents);
    }
  }
  return digest;
}

absl::Status ValidateDigest(EventLog& log, const v1::LogDigest& digest) {
  const uint32_t partitions = log.partitions();
  std::vector<bool> seen(partitions, false);
  for (int i = 0; i < digest.entries_size(); i++) {
    const v1::DigestEntry& e = digest.entries(i);
    if (e.partition() >= partitions) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "digest.entries[%d].partition: %d is not a partition of this log (0..%d)", i,
          e.partition(), partitions - 1));
    }
    if (seen[e.partition()]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "digest.entries[%d].partition: partition %d is listed twice", i, e.partition()));
    }
    seen[e.partition()] = true;
    if (e.hash().size() != kHashBytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "digest.entries[%d].hash: must be %d bytes, not %d", i, kHashBytes, e.hash().size()));
    }
  }
  for (uint32_t p = 0; p < partitions; p++) {
    if (!seen[p]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "digest.entries: partition %d is missing (a digest covers every partition)", p));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ChainVerdict> ProveDigest(EventLog& log, const v1::LogDigest& digest,
                                             const ChainCheckOptions& options) {
  RETURN_IF_ERROR(ValidateDigest(log, digest));
  return Check(log, &digest, options);
}

}  // namespace perfledger
