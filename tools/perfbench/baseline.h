// The raw baseline: what this disk and RocksDB can do with no server in between.
//
// Threads write WriteBatches of `keys_per_batch` keys of `value_bytes` each with
// WriteOptions.sync = true into a fresh RocksDB, closed loop, as the embedded log does. Running as
// many threads as the server test has clients lets RocksDB's own group commit merge concurrent
// batches into one fsync, which is the ceiling a server built on the same log can approach.
// The ratio server/baseline then says how much the server's own work (gRPC, validation,
// idempotency, hashing, write model) costs on top of the durable write.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "tools/perfbench/histogram.h"

namespace perfbench {

struct BaselineOptions {
  // Parent folder; the database goes in a fresh subfolder that is destroyed afterwards.
  std::string parent_dir = "/tmp";
  uint32_t threads = 32;
  uint32_t keys_per_batch = 100;
  size_t value_bytes = 330;
  std::chrono::milliseconds warmup{2000};
  std::chrono::milliseconds duration{10000};
};

struct BaselineResult {
  uint64_t batches = 0;  // batches started inside the window
  uint64_t keys = 0;
  double window_seconds = 0;
  Histogram latency;  // per WriteBatch, nanoseconds
  std::string db_path;

  double keys_per_second() const { return window_seconds > 0 ? keys / window_seconds : 0; }
  double batches_per_second() const { return window_seconds > 0 ? batches / window_seconds : 0; }
};

// Runs the baseline. INTERNAL (with RocksDB's message) when the database cannot be opened or a
// write fails; the scratch database is removed in every case.
absl::StatusOr<BaselineResult> RunBaseline(const BaselineOptions& options);

}  // namespace perfbench
