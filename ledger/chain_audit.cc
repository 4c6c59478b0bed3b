#include "ledger/chain_audit.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "ledger/embedded_log.h"
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

// One stored event as the chain sees it: views into the envelope (parsed or as stored) and the
// hash its content gives.
struct Link {
  uint64_t offset = 0;
  std::string_view event_id;
  uint64_t sequence = 0;
  std::string_view prev_hash;
  std::string_view hash;
  std::string_view payload;
  std::string_view payload_sha256;
  std::string_view computed_hash;  // SHA-256(prev_hash || canonical bytes)
};

// SHA-256 of the payload equals `expected` (no allocation: this runs for every event).
bool PayloadMatches(std::string_view payload, std::string_view expected) {
  unsigned char digest[kHashBytes];
  SHA256(reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), digest);
  return expected == std::string_view(reinterpret_cast<const char*>(digest), kHashBytes);
}

// The first check `link` fails given the chain so far (same order as VerifyLink).
std::optional<v1::BrokenLink> CheckLink(const Link& l, uint32_t partition,
                                        const std::string& prev, uint64_t sequence) {
  auto broken = [&](std::string expected, std::string_view found, std::string reason) {
    return Broken(partition, l.offset, std::string(l.event_id), std::move(expected),
                  std::string(found), std::move(reason));
  };
  if (l.sequence != sequence) {
    return broken(prev, l.prev_hash,
                  absl::StrFormat("sequence is %d, expected %d (an event is missing, added or "
                                  "moved)",
                                  l.sequence, sequence));
  }
  if (l.prev_hash != prev) {
    return broken(prev, l.prev_hash, "prev_hash does not match the previous event's hash");
  }
  if (!l.payload.empty() && !PayloadMatches(l.payload, l.payload_sha256)) {
    return broken(Sha256(l.payload), l.payload_sha256, "payload does not match payload_sha256");
  }
  if (l.computed_hash != l.hash) {
    return broken(std::string(l.computed_hash), l.hash, "hash does not match the envelope");
  }
  return std::nullopt;
}

// Reads the Envelope fields the chain needs straight from its stored bytes, and its hash: the
// canonical bytes are the stored bytes without `position` (6), `hash` (14) and `payload` (21),
// because protobuf writes fields in number order and an Envelope has no maps, so the stored
// serialization minus those fields IS the deterministic one SealEnvelope hashed. No parse, no
// copy of the payload: this is what lets a million events verify in seconds. False when the
// bytes are not a well-formed message.
bool ReadStored(std::string_view bytes, Link* l, std::string* canonical, std::string* hash) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* const end = p + bytes.size();
  auto varint = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
      const unsigned char b = *p++;
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  // prev_hash || canonical bytes in one reused buffer; the 32 bytes in front are filled in
  // once the prev_hash field has been read.
  canonical->assign(kHashBytes, '\0');
  const unsigned char* kept_from = p;  // start of the current run of hashed fields
  auto keep_until = [&](const unsigned char* stop) {
    canonical->append(reinterpret_cast<const char*>(kept_from),
                      static_cast<size_t>(stop - kept_from));
  };
  while (p < end) {
    const unsigned char* field_start = p;
    uint64_t tag;
    if (!varint(&tag)) return false;
    const uint64_t number = tag >> 3;
    std::string_view value;
    uint64_t scalar = 0;
    switch (tag & 7) {
      case 0:
        if (!varint(&scalar)) return false;
        break;
      case 1:
        if (end - p < 8) return false;
        p += 8;
        break;
      case 2: {
        uint64_t length;
        if (!varint(&length) || length > static_cast<uint64_t>(end - p)) return false;
        value = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(length));
        p += length;
        break;
      }
      case 5:
        if (end - p < 4) return false;
        p += 4;
        break;
      default:
        return false;
    }
    switch (number) {
      case 1: l->event_id = value; break;
      case 13: l->prev_hash = value; break;
      case 14: l->hash = value; break;
      case 15: l->sequence = scalar; break;
      case 20: l->payload_sha256 = value; break;
      case 21: l->payload = value; break;
      default: break;
    }
    if (number == 6 || number == 14 || number == 21) {
      keep_until(field_start);
      kept_from = p;
    }
  }
  keep_until(end);
  canonical->replace(0, kHashBytes, l->prev_hash.data(), l->prev_hash.size());
  hash->assign(kHashBytes, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(canonical->data()), canonical->size(),
         reinterpret_cast<unsigned char*>(hash->data()));
  l->computed_hash = *hash;
  return true;
}

// Walks one partition's chain up to `end` (exclusive), checking the digest point when given.
class PartitionWalk {
 public:
  PartitionWalk(uint32_t p, uint64_t end, const v1::DigestEntry* point)
      : p_(p), end_(end), point_(point), point_checked_(point == nullptr) {
    out_.chain.set_partition(p);
  }

  // Checks one event; false once the chain is broken (out().broken says where).
  bool Step(const Link& l) {
    if (!point_checked_ && l.offset >= point_->next_offset() && !CheckPoint()) return false;
    if ((out_.broken = CheckLink(l, p_, tip_, sequence_))) return false;
    tip_.assign(l.hash.data(), l.hash.size());
    tip_event_id_.assign(l.event_id.data(), l.event_id.size());
    tip_offset_ = l.offset;
    sequence_++;
    next_ = l.offset + 1;
    return true;
  }

  void Unparsable(uint64_t offset) {
    out_.broken = Broken(p_, offset, "", tip_, "", "the stored event does not parse");
  }

  // After the last event: the digest point at the end of the walk, and the totals.
  PartitionOutcome Finish(bool complete) {
    if (complete && !out_.broken) {
      next_ = std::max(next_, end_);
      if (!point_checked_) {
        if (end_ < point_->next_offset()) {
          out_.broken = Broken(p_, end_, "", point_->hash(), tip_,
                               absl::StrFormat("the log ends at offset %d, before the digest's "
                                               "next_offset %d (events were removed)",
                                               end_, point_->next_offset()));
        } else {
          CheckPoint();
        }
      }
    }
    out_.chain.set_events(sequence_);
    out_.chain.set_next_offset(next_);
    out_.chain.set_tip_hash(tip_);
    return std::move(out_);
  }

  PartitionOutcome& out() { return out_; }

 private:
  // The digest's hash must be the chain's hash at the last event before its next_offset.
  bool CheckPoint() {
    point_checked_ = true;
    if (tip_ == point_->hash()) return true;
    out_.broken = Broken(p_, point_->next_offset() == 0 ? 0 : tip_offset_, tip_event_id_,
                         point_->hash(), tip_,
                         absl::StrFormat("the chain hash before offset %d differs from the "
                                         "digest's (the log was rewritten up to there)",
                                         point_->next_offset()));
    return false;
  }

  const uint32_t p_;
  const uint64_t end_;
  const v1::DigestEntry* const point_;
  bool point_checked_;
  PartitionOutcome out_;
  std::string tip_ = GenesisHash();
  std::string tip_event_id_;
  uint64_t tip_offset_ = 0;
  uint64_t sequence_ = 0;
  uint64_t next_ = 0;
};

// The embedded log: hash the stored bytes as they are (ReadStored).
PartitionOutcome CheckStored(EmbeddedLog& log, uint32_t p, uint64_t end,
                             const v1::DigestEntry* point, SharedProgress& progress) {
  PartitionWalk walk(p, end, point);
  std::string canonical, hash;
  uint64_t from = 0;
  bool broken = false;
  while (from < end && !broken && !progress.cancel.load(std::memory_order_relaxed)) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(limits::kAuditReadBatchEvents, end - from));
    uint64_t seen = 0;
    auto visit = [&](Offset at, std::string_view bytes) {
      const uint64_t offset = at.value();
      seen++;
      from = offset + 1;
      Link l;
      l.offset = offset;
      if (!ReadStored(bytes, &l, &canonical, &hash)) {
        walk.Unparsable(offset);
        broken = true;
        return false;
      }
      broken = !walk.Step(l);
      return !broken;
    };
    absl::Status s = log.ScanStored(PartitionId(p), Offset(from), want, visit);
    if (!s.ok()) {
      walk.out().error = s;
      return walk.Finish(false);
    }
    progress.done.fetch_add(seen, std::memory_order_relaxed);
    if (seen == 0) break;
  }
  return walk.Finish(!broken && !progress.cancel.load());
}

// Any other log (Kafka): parse each envelope and re-serialize its canonical bytes.
PartitionOutcome CheckParsed(EventLog& log, uint32_t p, uint64_t end,
                             const v1::DigestEntry* point, SharedProgress& progress) {
  PartitionWalk walk(p, end, point);
  uint64_t from = 0;
  while (from < end && !progress.cancel.load(std::memory_order_relaxed)) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(limits::kAuditReadBatchEvents, end - from));
    auto batch = log.Read(PartitionId(p), Offset(from), want);
    if (!batch.ok() && batch.status().code() == absl::StatusCode::kDataLoss) {
      // An event that does not even parse: find it one by one and name it.
      for (uint64_t o = from; o < from + want; o++) {
        if (log.Read(PartitionId(p), Offset(o), 1).ok()) continue;
        walk.Unparsable(o);
        return walk.Finish(false);
      }
    }
    if (!batch.ok()) {
      walk.out().error = batch.status();
      return walk.Finish(false);
    }
    if (batch->empty()) break;  // Kafka: only transaction markers up to the end
    for (v1::Envelope& e : *batch) {
      if (e.position().offset() >= end) break;
      const std::string computed = ComputeHashInPlace(e);
      Link l;
      l.offset = e.position().offset();
      l.event_id = e.event_id();
      l.sequence = e.sequence();
      l.prev_hash = e.prev_hash();
      l.hash = e.hash();
      l.payload = e.payload();
      l.payload_sha256 = e.payload_sha256();
      l.computed_hash = computed;
      if (!walk.Step(l)) return walk.Finish(false);
    }
    progress.done.fetch_add(batch->size(), std::memory_order_relaxed);
    from = batch->back().position().offset() + 1;
  }
  return walk.Finish(!progress.cancel.load());
}

PartitionOutcome CheckPartition(EventLog& log, uint32_t p, uint64_t end,
                                const v1::DigestEntry* point, SharedProgress& progress) {
  if (auto* embedded = dynamic_cast<EmbeddedLog*>(&log)) {
    return CheckStored(*embedded, p, end, point, progress);
  }
  return CheckParsed(log, p, end, point, progress);
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
  for (PartitionId p : ends.partitions()) total += ends[p].value();

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
        outcomes[p] = CheckPartition(log, p, ends[PartitionId(p)].value(), points[p], progress);
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
  for (PartitionId p : ends.partitions()) {
    v1::DigestEntry* entry = digest.add_entries();
    entry->set_partition(p.value());
    entry->set_next_offset(ends[p].value());
    entry->set_hash(GenesisHash());
    if (ends[p] == Offset(0)) continue;
    // Kafka may end a partition with transaction markers: widen the window until an event shows.
    uint64_t window = 1;
    while (true) {
      const Offset from = ends[p].value() > window ? ends[p] - window : Offset(0);
      ASSIGN_OR_RETURN(auto batch, log.Read(p, from, static_cast<size_t>(ends[p] - from)));
      const v1::Envelope* last = nullptr;
      for (const auto& e : batch) {
        if (Offset(e.position().offset()) < ends[p]) last = &e;
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
      if (from == Offset(0)) break;
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
