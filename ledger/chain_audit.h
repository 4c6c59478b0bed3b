// Verification of the per-partition hash chain (ARCHITECTURE §8), next to the log: every link of every
// partition up to the ends the log had when the check started, optionally against a saved digest.
//
// The check reads through EventLog::Read like any consumer, so writers never wait for it, and
// it runs one worker per core over the partitions (they chain independently). It stops each
// partition at its first broken link; the verdict names the broken link of the lowest partition.
//
// Thread safety: the functions are thread-safe; `progress` is called from the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "ledger/event_log.h"
#include "perfledger/v1/audit.pb.h"

namespace perfledger {

struct ChainCheckOptions {
  // Called about every `progress_every` events with (events done, events total); returning
  // false cancels the check (CANCELLED).
  std::function<bool(uint64_t, uint64_t)> progress;
  uint64_t progress_every = 100'000;
  // Worker threads (0 = one per hardware thread, at most the partition count).
  unsigned threads = 0;
};

// Verifies every partition from offset 0 to its end at the time of the call. A broken chain is
// a verdict with ok=false (OK status); errors are reserved for failures to read the log.
absl::StatusOr<v1::ChainVerdict> VerifyChain(EventLog& log, const ChainCheckOptions& options);

// The digest of the log now: every partition's end and the hash of its last event.
absl::StatusOr<v1::LogDigest> TakeDigest(EventLog& log);

// INVALID_ARGUMENT naming the field when `digest` does not fit this log (partition out of
// range or listed twice, hash not 32 bytes, a partition missing).
absl::Status ValidateDigest(EventLog& log, const v1::LogDigest& digest);

// VerifyChain that also requires, for each digest entry, that the chain's hash at
// next_offset-1 equals the digest's hash (and that the log still reaches that offset).
absl::StatusOr<v1::ChainVerdict> ProveDigest(EventLog& log, const v1::LogDigest& digest,
                                             const ChainCheckOptions& options);

}  // namespace perfledger
