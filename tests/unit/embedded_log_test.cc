// ledger/embedded_log: the RocksDB event log with group commit and the hash chain.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "ledger/embedded_log.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"
#include "tests/support/embedded_log_peer.h"
#include "tests/support/log_values.h"

namespace perfledger {
namespace {

using testing::TempDir;

std::unique_ptr<EmbeddedLog> OpenLog(const std::string& dir, uint32_t partitions = 4,
                                     bool sync = true) {
  EmbeddedLogOptions options;
  options.dir = dir;
  options.data_partitions = partitions;
  options.sync = sync;
  auto log = EmbeddedLog::Open(options);
  INFO(log.status().ToString());
  REQUIRE(log.ok());
  return std::move(*log);
}

v1::Envelope Event(uint32_t partition, const std::string& id, size_t payload_bytes = 16) {
  v1::Envelope e;
  e.set_event_id(id);
  e.set_type("MetricObserved");
  e.set_stream("metrics/" + id);
  e.set_stream_version(1);
  e.mutable_position()->set_partition(partition);
  e.set_payload(std::string(payload_bytes, 'p'));
  return e;
}

std::vector<LogPosition> MustAppend(EventLog& log, std::vector<v1::Envelope> events) {
  auto r = AppendAndWait(log, std::move(events));
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

std::vector<StoredEvent> MustRead(EventLog& log, uint32_t partition, uint64_t from = 0,
                                  size_t max = 100'000) {
  auto r = log.Read(PartitionId(partition), Offset(from), max);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

// Verifies every partition's chain from offset 0 and returns the total number of events.
uint64_t VerifyAll(EventLog& log) {
  uint64_t total = 0;
  const LogEnds ends = log.Ends();
  const std::vector<std::string> tips = log.ChainTips();
  for (uint32_t p = 0; p < log.partitions(); p++) {
    std::string prev = GenesisHash();
    const auto events = MustRead(log, p);
    REQUIRE(events.size() == ends[PartitionId(p)].value());
    for (uint64_t i = 0; i < events.size(); i++) {
      INFO("partition " << p << " offset " << i);
      REQUIRE(events[i].position().partition() == p);
      REQUIRE(events[i].position().offset() == i);
      const absl::Status s = VerifyLink(events[i], prev, i);
      INFO(s.ToString());
      REQUIRE(s.ok());
      prev = events[i].hash();
    }
    CHECK(tips[p] == prev);
    total += events.size();
  }
  return total;
}

TEST_CASE("embedded log: append and read round trip", "[embedded_log]") {
  TempDir dir("log");
  auto log = OpenLog(dir.path());
  CHECK(log->backend() == "embedded");
  CHECK(log->data_partitions() == 4);
  CHECK(log->partitions() == 5);
  CHECK(log->Ends() == LogEnds(5));
  CHECK(log->ChainTips() == std::vector<std::string>(5, GenesisHash()));

  std::vector<v1::Envelope> batch = {Event(1, "a"), Event(2, "b"), Event(1, "c"), Event(0, "d")};
  batch[0].set_payload("payload-a");
  const auto positions = MustAppend(*log, batch);
  REQUIRE(positions.size() == 4);
  CHECK(positions[0] == PositionAt(1, 0));
  CHECK(positions[1] == PositionAt(2, 0));
  CHECK(positions[2] == PositionAt(1, 1));
  CHECK(positions[3] == PositionAt(0, 0));
  CHECK(log->Ends() == EndsOf({1, 2, 1, 0, 0}));

  const auto p1 = MustRead(*log, 1);
  REQUIRE(p1.size() == 2);
  CHECK(p1[0].event_id() == "a");
  CHECK(p1[0].payload() == "payload-a");
  CHECK(p1[0].payload_sha256() == Sha256("payload-a"));
  CHECK(p1[0].sequence() == 0);
  CHECK(p1[0].has_recorded_at());
  CHECK(p1[0].prev_hash() == GenesisHash());
  CHECK(p1[1].event_id() == "c");
  CHECK(p1[1].prev_hash() == p1[0].hash());
  // Events of one append share their recorded_at (assigned once by the writer).
  CHECK(p1[1].recorded_at().seconds() == p1[0].recorded_at().seconds());
  CHECK(p1[1].recorded_at().nanos() == p1[0].recorded_at().nanos());

  // Reads are bounded and start where asked.
  CHECK(MustRead(*log, 1, 1).size() == 1);
  CHECK(MustRead(*log, 1, 0, 1).size() == 1);
  CHECK(MustRead(*log, 1, 2).empty());
  CHECK(MustRead(*log, 1, 99).empty());
  CHECK(MustRead(*log, 1, 0, 0).empty());
  CHECK(MustRead(*log, 3).empty());
  CHECK(log->Read(PartitionId(5), Offset(0), 10).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(VerifyAll(*log) == 4);

  // An empty append succeeds and writes nothing.
  CHECK(MustAppend(*log, {}).empty());
  CHECK(log->Ends() == EndsOf({1, 2, 1, 0, 0}));
}

TEST_CASE("embedded log: Read with an unbounded max_events returns the rest", "[embedded_log]") {
  TempDir dir("log");
  auto log = OpenLog(dir.path(), 2, /*sync=*/false);
  MustAppend(*log, {Event(1, "a"), Event(1, "b"), Event(1, "c")});
  // "Up to max_events events": a caller asking for everything passes the largest size_t.
  CHECK(MustRead(*log, 1, 0, std::numeric_limits<size_t>::max()).size() == 3);
  CHECK(MustRead(*log, 1, 1, std::numeric_limits<size_t>::max()).size() == 2);
}

TEST_CASE("embedded log: positions are contiguous per partition", "[embedded_log]") {
  TempDir dir("log");
  auto log = OpenLog(dir.path(), 3, /*sync=*/false);
  std::vector<uint64_t> next(4, 0);
  for (int round = 0; round < 20; round++) {
    std::vector<v1::Envelope> batch;
    for (int i = 0; i <= round % 5; i++) {
      batch.push_back(Event(static_cast<uint32_t>((round + i) % 4), absl::StrCat(round, "-", i)));
    }
    const auto positions = MustAppend(*log, batch);
    REQUIRE(positions.size() == batch.size());
    for (size_t i = 0; i < batch.size(); i++) {
      const uint32_t p = batch[i].position().partition();
      CHECK(positions[i].partition == PartitionId(p));
      CHECK(positions[i].offset == Offset(next[p]++));
    }
  }
  CHECK(log->Ends() == EndsOf(next));
  CHECK(VerifyAll(*log) == next[0] + next[1] + next[2] + next[3]);
}

TEST_CASE("embedded log: an append is atomic and never interleaved", "[embedded_log]") {
  TempDir dir("log");
  auto log = OpenLog(dir.path(), 2);
  // 8 threads append 10-event batches to the same partitions at once: each batch's events must
  // take consecutive offsets in each partition, in the batch's order.
  constexpr int kThreads = 8, kBatches = 5, kEvents = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; b++) {
        std::vector<v1::Envelope> batch;
        for (int i = 0; i < kEvents; i++) {
          batch.push_back(Event(1 + i % 2, absl::StrCat("t", t, "-b", b, "-e", i)));
        }
        auto r = AppendAndWait(*log, batch);
        if (!r.ok()) {
          failures++;
          continue;
        }
        for (int i = 2; i < kEvents; i++) {
          if ((*r)[i].offset != (*r)[i - 2].offset + 1) failures++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(VerifyAll(*log) == kThreads * kBatches * kEvents);
}

TEST_CASE("embedded log: oversized batches are refused and write nothing", "[embedded_log]") {
  TempDir dir("log");
  auto log = OpenLog(dir.path(), 2);
  MustAppend(*log, {Event(1, "first"), Event(2, "second")});
  const LogEnds ends = log->Ends();
  const std::vector<std::string> tips = log->ChainTips();

  SECTION("too many events") {
    std::vector<v1::Envelope> batch;
    for (size_t i = 0; i <= limits::kBatchEventsMax; i++) {
      batch.push_back(Event(1 + i % 2, absl::StrCat("e", i), 1));
    }
    auto r = AppendAndWait(*log, std::move(batch));
    REQUIRE(r.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(absl::StrContains(r.status().message(), "batch"));
  }
  SECTION("too many bytes") {
    std::vector<v1::Envelope> batch;
    const size_t per_event = 60 * 1024;
    for (size_t i = 0; i < limits::kBatchBytesMax / per_event + 2; i++) {
      batch.push_back(Event(1 + i % 2, absl::StrCat("big", i), per_event));
    }
    auto r = AppendAndWait(*log, std::move(batch));
    REQUIRE(r.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(absl::StrContains(r.status().message(), "bytes"));
  }
  SECTION("a partition the log does not have") {
    auto r = AppendAndWait(*log, {Event(1, "ok"), Event(3, "bad")});
    REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(r.status().message(), "position.partition"));
  }

  CHECK(log->Ends() == ends);
  CHECK(log->ChainTips() == tips);
  // The refused batch released what it had reserved: the chain continues from the old tips.
  const auto positions = MustAppend(*log, {Event(1, "after"), Event(2, "after2")});
  CHECK(positions[0] == LogPosition{PartitionId(1), ends[PartitionId(1)]});
  CHECK(positions[1] == LogPosition{PartitionId(2), ends[PartitionId(2)]});
  CHECK(MustRead(*log, 1, ends[PartitionId(1)].value()).front().prev_hash() == tips[1]);
  CHECK(VerifyAll(*log) == 4);
}

TEST_CASE("embedded log: reopen recovers ends and tips and the chain continues",
          "[embedded_log]") {
  TempDir dir("log");
  LogEnds ends;
  std::vector<std::string> tips;
  {
    auto log = OpenLog(dir.path(), 3);
    MustAppend(*log, {Event(0, "c0"), Event(1, "a"), Event(1, "b"), Event(3, "z")});
    MustAppend(*log, {Event(1, "c")});
    ends = log->Ends();
    tips = log->ChainTips();
  }
  auto log = OpenLog(dir.path(), 3);
  CHECK(log->data_partitions() == 3);
  CHECK(log->Ends() == ends);
  CHECK(log->ChainTips() == tips);
  CHECK(ends == EndsOf({1, 3, 0, 1}));

  const auto positions = MustAppend(*log, {Event(1, "d"), Event(2, "e"), Event(3, "f")});
  CHECK(positions[0] == PositionAt(1, 3));
  CHECK(positions[1] == PositionAt(2, 0));
  CHECK(positions[2] == PositionAt(3, 1));
  const auto d = MustRead(*log, 1, 3);
  REQUIRE(d.size() == 1);
  CHECK(d[0].prev_hash() == tips[1]);
  CHECK(d[0].sequence() == 3);
  CHECK(VerifyAll(*log) == 8);

  // Opening with 0 partitions keeps what the log has.
  log.reset();
  auto again = OpenLog(dir.path(), 0);
  CHECK(again->data_partitions() == 3);
  CHECK(VerifyAll(*again) == 8);
}

TEST_CASE("embedded log: the partition count cannot change", "[embedded_log]") {
  TempDir dir("log");
  { auto log = OpenLog(dir.path(), 4); }
  EmbeddedLogOptions options;
  options.dir = dir.path();
  options.data_partitions = 5;
  auto reopened = EmbeddedLog::Open(options);
  REQUIRE(reopened.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StartsWith(reopened.status().message(), "data_partitions"));

  TempDir other("log");
  options.dir = other.path();
  options.data_partitions = limits::kDataPartitionsMax + 1;
  CHECK(EmbeddedLog::Open(options).status().code() == absl::StatusCode::kInvalidArgument);
  // A new log without a count gets the default.
  options.data_partitions = 0;
  auto fresh = EmbeddedLog::Open(options);
  REQUIRE(fresh.ok());
  CHECK((*fresh)->data_partitions() == limits::kDataPartitionsDefault);
}

TEST_CASE("embedded log: WaitForAppend wakes on append and times out", "[embedded_log]") {
  TempDir dir("log");
  auto log = OpenLog(dir.path(), 2);

  SECTION("times out when nothing is appended") {
    const LogEnds seen = log->Ends();
    const absl::Time start = absl::Now();
    const LogEnds after = log->WaitForAppend(seen, start + absl::Milliseconds(50));
    CHECK(after == seen);
    CHECK(absl::Now() - start >= absl::Milliseconds(45));
  }
  SECTION("returns at once when the caller is behind") {
    MustAppend(*log, {Event(1, "x")});
    const absl::Time start = absl::Now();
    CHECK(log->WaitForAppend(LogEnds(3), start + absl::Seconds(30)) == EndsOf({0, 1, 0}));
    CHECK(absl::Now() - start < absl::Seconds(5));
  }
  SECTION("wakes when another thread appends") {
    const LogEnds seen = log->Ends();
    absl::Notification waiting;
    LogEnds woke_with;
    absl::Duration waited;
    std::thread waiter([&] {
      waiting.Notify();
      const absl::Time start = absl::Now();
      woke_with = log->WaitForAppend(seen, start + absl::Seconds(30));
      waited = absl::Now() - start;
    });
    waiting.WaitForNotification();
    MustAppend(*log, {Event(2, "y")});
    waiter.join();
    CHECK(woke_with == EndsOf({0, 0, 1}));
    CHECK(waited < absl::Seconds(10));
  }
  SECTION("wakes when the log closes") {
    const LogEnds seen = log->Ends();
    absl::Notification waiting;
    absl::Duration waited;
    std::thread waiter([&] {
      waiting.Notify();
      const absl::Time start = absl::Now();
      log->WaitForAppend(seen, start + absl::Seconds(30));
      waited = absl::Now() - start;
    });
    waiting.WaitForNotification();
    log->Close();
    waiter.join();
    CHECK(waited < absl::Seconds(10));
  }
}

TEST_CASE("embedded log: concurrent appenders share group commits", "[embedded_log]") {
  TempDir dir("log");
  auto log = OpenLog(dir.path(), 4);  // sync on: every group commit is one fsync
  constexpr int kThreads = 8, kRounds = 5, kInFlight = 10;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; round++) {
        // Several appends in flight per thread, then wait for all of them.
        std::mutex mu;
        std::condition_variable cv;
        int pending = kInFlight;
        for (int i = 0; i < kInFlight; i++) {
          log->Append({Event(1 + (t + i) % 4, absl::StrCat("t", t, "r", round, "i", i))},
                      [&](absl::StatusOr<std::vector<LogPosition>> r) {
                        (r.ok() ? ok : failed)++;
                        std::lock_guard<std::mutex> lock(mu);
                        if (--pending == 0) cv.notify_one();
                      });
        }
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return pending == 0; });
      }
    });
  }
  for (auto& t : threads) t.join();
  constexpr int kAppends = kThreads * kRounds * kInFlight;
  CHECK(ok.load() == kAppends);
  CHECK(failed.load() == 0);
  const EmbeddedLogStats stats = log->stats();
  CHECK(stats.appends == kAppends);
  CHECK(stats.events == kAppends);
  CHECK(stats.group_commits >= 1);
  CHECK(stats.group_commits < stats.appends);
  CHECK(VerifyAll(*log) == kAppends);
  // Log.Status's figures: the same counters; events = ends, since offsets are contiguous.
  const LogSummary summary = log->Summary();
  CHECK(summary.appends == stats.appends);
  CHECK(summary.group_commits == stats.group_commits);
  uint64_t events = 0;
  for (uint32_t p = 0; p < summary.partitions.size(); p++) {
    CHECK(summary.partitions[p].events == summary.partitions[p].end.value());
    CHECK(summary.partitions[p].tip == log->ChainTips()[p]);
    events += summary.partitions[p].events;
  }
  CHECK(events == kAppends);
}

TEST_CASE("embedded log: Close refuses later appends", "[embedded_log]") {
  TempDir dir("log");
  auto log = OpenLog(dir.path(), 2);
  MustAppend(*log, {Event(1, "before")});
  log->Close();
  log->Close();  // idempotent
  auto r = AppendAndWait(*log, {Event(1, "after")});
  REQUIRE(r.status().code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StrContains(r.status().message(), "closed"));
  // What was durable stays readable.
  CHECK(log->Ends() == EndsOf({0, 1, 0}));
  CHECK(MustRead(*log, 1).size() == 1);
}

TEST_CASE("embedded log: a tampered event breaks the chain", "[embedded_log]") {
  TempDir dir("log");
  auto log = OpenLog(dir.path(), 1);
  MustAppend(*log, {Event(1, "a"), Event(1, "b"), Event(1, "c")});
  auto events = MustRead(*log, 1);
  v1::Envelope forged = events[1];
  forged.set_stream_version(42);
  REQUIRE(EmbeddedLogTestPeer::Tamper(*log, PositionAt(1, 1), forged).ok());
  const auto reread = MustRead(*log, 1);
  CHECK(VerifyLink(reread[0], GenesisHash(), 0).ok());
  const absl::Status s = VerifyLink(reread[1], reread[0].hash(), 1);
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK(absl::StrContains(s.message(), "partition 1 offset 1"));
}

}  // namespace
}  // namespace perfledger
