#include "tools/perfbench/baseline.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "absl/status/status.h"

namespace perfbench {
namespace {

using Clock = std::chrono::steady_clock;

// 12-byte keys shaped like a log position: thread (as partition, 4 bytes) and a sequence
// (as offset, 8 bytes), big-endian, so each thread appends in key order like a log does.
std::string Key(uint32_t thread, uint64_t seq) {
  std::string key(12, '\0');
  for (int i = 0; i < 4; ++i) key[i] = static_cast<char>(thread >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) key[4 + i] = static_cast<char>(seq >> (56 - 8 * i));
  return key;
}

}  // namespace

absl::StatusOr<BaselineResult> RunBaseline(const BaselineOptions& options) {
  BaselineResult result;
  result.db_path = options.parent_dir + "/perfbench-baseline-" + std::to_string(::getpid());
  std::error_code ec;
  std::filesystem::remove_all(result.db_path, ec);  // a crashed earlier run with the same pid

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.error_if_exists = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status opened = rocksdb::DB::Open(db_options, result.db_path, &raw);
  if (!opened.ok()) {
    return absl::InternalError("baseline: open " + result.db_path + ": " + opened.ToString());
  }
  std::unique_ptr<rocksdb::DB> db(raw);

  // Incompressible values (hashes dominate an envelope's entropy anyway): one random pool that
  // values are sliced from at varying offsets, so building a batch costs no random generation.
  std::string pool(1 << 20, '\0');
  std::mt19937_64 rng(42);
  for (char& c : pool) c = static_cast<char>(rng());
  const size_t value_bytes = std::min(options.value_bytes, pool.size() / 2);

  const Clock::time_point start = Clock::now();
  const Clock::time_point window_start = start + options.warmup;
  const Clock::time_point window_end = window_start + options.duration;
  std::mutex mu;
  rocksdb::Status first_error;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < std::max<uint32_t>(1, options.threads); ++t) {
    threads.emplace_back([&, t] {
      rocksdb::WriteOptions write_options;
      write_options.sync = true;
      Histogram latency;
      uint64_t batches = 0;
      uint64_t seq = 0;
      size_t offset = (t * 7919) % (pool.size() / 2);
      rocksdb::WriteBatch batch;
      for (Clock::time_point now = Clock::now(); now < window_end && !failed; now = Clock::now()) {
        batch.Clear();
        for (uint32_t k = 0; k < options.keys_per_batch; ++k) {
          offset = (offset + 131) % (pool.size() / 2);
          batch.Put(Key(t, seq++), rocksdb::Slice(pool.data() + offset, value_bytes));
        }
        const Clock::time_point sent = Clock::now();
        rocksdb::Status s = db->Write(write_options, &batch);
        if (!s.ok()) {
          std::lock_guard lock(mu);
          if (first_error.ok()) first_error = s;
          failed = true;
          break;
        }
        if (sent >= window_start) {
          latency.Record(static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent).count()));
          ++batches;
        }
      }
      std::lock_guard lock(mu);
      result.latency.Merge(latency);
      result.batches += batches;
    });
  }
  for (std::thread& th : threads) th.join();

  db.reset();  // close before destroying the files
  rocksdb::DestroyDB(result.db_path, db_options);
  std::filesystem::remove_all(result.db_path, ec);

  if (!first_error.ok()) return absl::InternalError("baseline: write: " + first_error.ToString());
  result.keys = result.batches * options.keys_per_batch;
  result.window_seconds = std::chrono::duration<double>(options.duration).count();
  return result;
}

}  // namespace perfbench
