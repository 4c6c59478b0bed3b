// Every bound perfctl enforces, in one place.
#ifndef PERFLEDGER_TOOLS_PERFCTL_LIMITS_H_
#define PERFLEDGER_TOOLS_PERFCTL_LIMITS_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

namespace perfctl::limits {

// Ids on the wire are 1..64 bytes of [A-Za-z0-9._:-] (common.proto).
inline constexpr size_t kIdBytesMax = 64;
// Idempotency keys are 1..64 chars (commands.proto).
inline constexpr size_t kIdempotencyKeyBytesMax = 64;

// One CSV record (a line, or several lines inside quotes). Longer records are rejected so that a
// file with a stray quote cannot swallow gigabytes into one field.
inline constexpr size_t kCsvRecordBytesMax = 1 << 20;

// Org-unit and employee imports are held in memory to order parents first.
inline constexpr size_t kImportRowsMax = 1'000'000;
inline constexpr size_t kImportFileBytesMax = 512u << 20;

// Metric import batches: each is one atomic append on the server.
inline constexpr uint32_t kMetricBatchSizeDefault = 500;
inline constexpr uint32_t kMetricBatchSizeMax = 10'000;
// Batches per StreamMetrics call; a longer file continues in a new call (the server's bound is
// ledger/limits.h kStreamBatchesMax).
inline constexpr uint64_t kImportStreamBatchesMax = 100'000;
// A metric import answered UNAVAILABLE resumes after a backoff (doubling from the first to the
// max) for this long by default (--retry-for).
inline constexpr absl::Duration kImportRetryBackoffFirst = absl::Milliseconds(200);
inline constexpr absl::Duration kImportRetryBackoffMax = absl::Seconds(5);
inline constexpr char kImportRetryForDefault[] = "2m";

// Invalid rows listed before "... and N more".
inline constexpr size_t kInvalidRowsShownMax = 20;

// Key results per goal and repeated flags of a check-in.
inline constexpr size_t kKeyResultsMax = 32;

static_assert(kMetricBatchSizeDefault <= kMetricBatchSizeMax);
static_assert(kIdempotencyKeyBytesMax <= kIdBytesMax);

}  // namespace perfctl::limits

#endif  // PERFLEDGER_TOOLS_PERFCTL_LIMITS_H_
