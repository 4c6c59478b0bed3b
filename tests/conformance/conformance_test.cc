// The conformance suite: the same cases against every EventLog backend.
// This file is compiled twice (tests/conformance/CMakeLists.txt): PERFLEDGER_CONFORMANCE_KAFKA=0
// runs it on the embedded RocksDB log, =1 on a real Kafka broker (PERFLEDGER_KAFKA_BROKERS; it
// fails, never skips, without one). Each case opens fresh storage: a temporary directory, or
// topics under a unique prefix. Test names start with the backend so CTest keeps them apart.
//
// Kafka offsets have gaps (transaction markers), so the cases compare order, sequences and
// chains, never offset arithmetic; everything else is asserted identically.

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ledger/embedded_log.h"
#include "ledger/hash_chain.h"
#include "ledger/kafka_log.h"
#include "ledger/limits.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "projections/projector.h"
#include "projections/views/views.h"
#include "tests/support/fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_server.h"
#include "tests/views/history.h"

#ifndef PERFLEDGER_CONFORMANCE_KAFKA
#error "PERFLEDGER_CONFORMANCE_KAFKA must be 0 (embedded) or 1 (kafka)"
#endif

#if PERFLEDGER_CONFORMANCE_KAFKA
#define BACKEND "kafka"
#else
#define BACKEND "embedded"
#endif
#define CONFORMANCE_CASE(name) TEST_CASE(BACKEND " conformance: " name, "[conformance]")

namespace perfledger::testing {
namespace {

#if PERFLEDGER_CONFORMANCE_KAFKA
std::string Brokers() {
  const char* b = std::getenv("PERFLEDGER_KAFKA_BROKERS");
  if (b == nullptr || *b == '\0' || std::string(b) == "unavailable") {
    FAIL("PERFLEDGER_KAFKA_BROKERS names no broker: the Kafka conformance cases need the one "
         "deploy/test.sh (or deploy/kafka/kafka.sh up) starts; they never skip.");
  }
  return b;
}
#endif

std::string UniquePrefix() {
  static std::atomic<int> counter{0};
  return absl::StrCat("plconf-", getpid(), "-", absl::ToUnixMillis(absl::Now()), "-",
                      counter.fetch_add(1));
}

// A fresh log of `data_partitions` data partitions, and what keeps its storage alive.
struct FreshLog {
  std::unique_ptr<TempDir> dir = std::make_unique<TempDir>("conformance");
  std::string prefix = UniquePrefix();
  std::unique_ptr<EventLog> log;

  explicit FreshLog(uint32_t data_partitions = 3) : data_partitions_(data_partitions) { Open(); }

  // Opens (again) on the same storage.
  void Open() {
    log.reset();
#if PERFLEDGER_CONFORMANCE_KAFKA
    KafkaLogOptions o;
    o.brokers = Brokers();
    o.topic_prefix = prefix;
    o.data_partitions = data_partitions_;
    o.open_timeout = absl::Seconds(30);
    auto opened = KafkaLog::Open(o);
#else
    EmbeddedLogOptions o;
    o.dir = dir->Sub("log");
    o.data_partitions = data_partitions_;
    auto opened = EmbeddedLog::Open(o);
#endif
    INFO(opened.status().ToString());
    REQUIRE(opened.ok());
    log = std::move(*opened);
  }

 private:
  uint32_t data_partitions_;
};

TestServerOptions ServerOptions() {
  TestServerOptions o;
#if PERFLEDGER_CONFORMANCE_KAFKA
  o.log_backend = "kafka";
  o.kafka_brokers = Brokers();
  o.kafka_topic_prefix = UniquePrefix();
#endif
  return o;
}

v1::Envelope Event(uint32_t partition, const std::string& id, const std::string& key = "") {
  v1::Envelope e;
  e.set_event_id(id);
  e.set_type("MetricObserved");
  e.set_stream(absl::StrCat("employee/", key.empty() ? "none" : key));
  e.set_stream_version(1);
  e.set_partition_key(key);
  e.set_schema_version(1);
  e.set_command_id(absl::StrCat("cmd-", id));
  e.set_payload(absl::StrCat("payload of ", id));
  e.mutable_position()->set_partition(partition);
  return e;
}

std::vector<LogPosition> AppendOk(EventLog& log, std::vector<v1::Envelope> events) {
  auto r = AppendAndWait(log, std::move(events));
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

std::vector<StoredEvent> ReadPartition(EventLog& log, PartitionId partition, size_t chunk = 100) {
  std::vector<StoredEvent> all;
  const Offset end = log.Ends()[partition];
  Offset from(0);
  while (from < end) {
    auto batch = log.Read(partition, from, chunk);
    INFO(batch.status().ToString());
    REQUIRE(batch.ok());
    if (batch->empty()) break;
    for (auto& e : *batch) {
      const Offset at(e.position().offset());
      REQUIRE(at >= from);
      from = at + 1;
      all.push_back(std::move(e));
    }
  }
  return all;
}

// Every partition: sequences 0..n-1, each link verified, offsets increasing, the tip reported.
size_t CheckChains(EventLog& log) {
  size_t total = 0;
  const std::vector<std::string> tips = log.ChainTips();
  for (PartitionId p : AllPartitions(log.partitions())) {
    std::string prev = GenesisHash();
    uint64_t sequence = 0;
    for (const StoredEvent& e : ReadPartition(log, p, 7)) {
      const absl::Status s = VerifyLink(e, prev, sequence);
      INFO("partition " << p << ": " << s.ToString());
      REQUIRE(s.ok());
      prev = e.hash();
      sequence++;
      total++;
    }
    REQUIRE(tips[p.value()] == prev);
  }
  return total;
}

// ---------------------------------------------------------------- the log

CONFORMANCE_CASE("append, read back with positions, follow with WaitForAppend") {
  FreshLog f;
  EventLog& log = *f.log;
  REQUIRE(log.partitions() == 4);
  const LogEnds empty = log.Ends();
  REQUIRE(empty == LogEnds(4));

  // A follower blocked on the empty log wakes when an append lands.
  std::atomic<bool> woke{false};
  std::thread follower([&] {
    const LogEnds seen = log.WaitForAppend(empty, absl::Now() + absl::Seconds(30));
    woke = seen != empty;
  });
  const auto first = AppendOk(log, {Event(1, "a", "K")});
  follower.join();
  CHECK(woke.load());
  AppendOk(log, {Event(1, "b", "K")});
  AppendOk(log, {Event(0, "control")});
  const auto third = AppendOk(log, {Event(1, "c", "K")});

  const PartitionId one(1);
  const auto events = ReadPartition(log, one);
  REQUIRE(events.size() == 3);
  CHECK(events[0].event_id() == "a");
  CHECK(events[1].event_id() == "b");
  CHECK(events[2].event_id() == "c");
  CHECK(Offset(events[0].position().offset()) == first[0].offset);
  CHECK(Offset(events[2].position().offset()) == third[0].offset);
  CHECK(events[2].payload() == "payload of c");
  CHECK(log.Ends()[one] == third[0].offset + 1);
  // Reading from just after an event continues with the next one.
  auto rest = log.Read(one, Offset(events[1].position().offset()) + 1, 10);
  REQUIRE(rest.ok());
  REQUIRE(rest->size() == 1);
  CHECK(rest->front().event_id() == "c");
  // Caught up: nothing past the end, and WaitForAppend returns at its deadline.
  auto none = log.Read(one, log.Ends()[one], 10);
  REQUIRE(none.ok());
  CHECK(none->empty());
  const LogEnds now = log.Ends();
  CHECK(log.WaitForAppend(now, absl::Now() + absl::Milliseconds(50)) == now);
}

CONFORMANCE_CASE("a batch across partitions is atomic and a refused batch writes nothing") {
  FreshLog f;
  EventLog& log = *f.log;
  AppendOk(log, {Event(1, "first", "K1")});
  const LogEnds before = log.Ends();
  std::vector<v1::Envelope> batch;
  for (uint32_t p = 0; p < 4; p++) {
    batch.push_back(Event(p, absl::StrCat("x", p, "a"), absl::StrCat("K", p)));
    batch.push_back(Event(p, absl::StrCat("x", p, "b"), absl::StrCat("K", p)));
  }
  const auto positions = AppendOk(log, batch);
  REQUIRE(positions.size() == 8);
  const LogEnds after = log.Ends();
  for (PartitionId p : AllPartitions(4)) {
    const size_t i = 2 * p.value();
    CHECK(positions[i].partition == p);
    CHECK(positions[i].offset >= before[p]);
    CHECK(positions[i + 1].offset > positions[i].offset);
    CHECK(after[p] == positions[i + 1].offset + 1);
    const auto events = ReadPartition(log, p);
    REQUIRE(events.size() >= 2);
    CHECK(events[events.size() - 2].event_id() == absl::StrCat("x", p, "a"));
    CHECK(events.back().event_id() == absl::StrCat("x", p, "b"));
  }
  // Refused whole: one bad partition, or too many bytes.
  CHECK(AppendAndWait(log, {Event(1, "ok"), Event(9, "no such partition")}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  std::vector<v1::Envelope> big;
  for (int i = 0; i < 3; i++) {
    big.push_back(Event(2, absl::StrCat("big", i)));
    big.back().set_payload(std::string(limits::kBatchBytesMax / 2, 'z'));
  }
  CHECK(AppendAndWait(log, big).status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(log.Ends() == after);
  // The chain goes on as if they never happened, also across a reopen.
  AppendOk(log, {Event(2, "after refusals")});
  f.Open();
  AppendOk(*f.log, {Event(2, "after reopen")});
  CHECK(CheckChains(*f.log) == 1 + 8 + 2);
}

CONFORMANCE_CASE("concurrent appenders: order per key, one chain per partition") {
  FreshLog f;
  EventLog& log = *f.log;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 60;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      const std::string key = absl::StrCat("K", t);
      const uint32_t partition = 1 + static_cast<uint32_t>(t) % 3;
      for (int i = 0; i < kPerThread; i++) {
        if (!AppendAndWait(log, {Event(partition, absl::StrCat(key, "-", i), key)}).ok()) {
          failures++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(failures.load() == 0);
  std::map<std::string, int> next;  // key → next expected index
  for (PartitionId p : DataPartitions(log.partitions())) {
    for (const StoredEvent& e : ReadPartition(log, p)) {
      const std::string& key = e.partition_key();
      CHECK(e.event_id() == absl::StrCat(key, "-", next[key]));
      next[key]++;
    }
  }
  for (int t = 0; t < kThreads; t++) CHECK(next[absl::StrCat("K", t)] == kPerThread);
  CHECK(CheckChains(log) == kThreads * kPerThread);
}

// ---------------------------------------------------------------- the server on the log

// The whole log through the server, checked as the log promises (sequences, links, the tips
// Status reports) without offset arithmetic.
std::vector<v1::RecordedEvent> CheckServerLog(TestServer& server) {
  const auto events = server.ReadAllEvents();
  const v1::StatusResponse status = server.Status();
  std::map<uint32_t, std::pair<std::string, uint64_t>> tips;
  for (const auto& recorded : events) {
    const v1::Envelope& e = recorded.envelope();
    auto [it, inserted] = tips.try_emplace(e.position().partition(), GenesisHash(), 0);
    const absl::Status s = VerifyLink(e, it->second.first, it->second.second);
    INFO(s.ToString());
    REQUIRE(s.ok());
    it->second.first = e.hash();
    it->second.second++;
  }
  for (const auto& p : status.partitions()) {
    auto it = tips.find(p.partition());
    CHECK(p.last_hash() == ToHex(it == tips.end() ? GenesisHash() : it->second.first));
  }
  return events;
}

std::map<std::string, std::string> Digests(TestServer& server, bool rebuild) {
  auto stub = v1::Views::NewStub(server.NewChannel());
  std::map<std::string, std::string> out;
  if (rebuild) {
    grpc::ClientContext context;
    server.Prepare(context, "", absl::Seconds(60));
    v1::RebuildResponse response;
    const grpc::Status s = stub->Rebuild(&context, v1::RebuildRequest(), &response);
    INFO(s.error_message());
    REQUIRE(s.ok());
    for (const auto& v : response.views()) out[v.view()] = v.digest();
    return out;
  }
  const absl::Time until = absl::Now() + absl::Seconds(60);
  for (;;) {
    grpc::ClientContext context;
    server.Prepare(context);
    v1::ProjectionStatusRequest request;
    request.set_digests(true);
    v1::ProjectionStatusResponse response;
    const grpc::Status s = stub->GetProjectionStatus(&context, request, &response);
    INFO(s.error_message());
    REQUIRE(s.ok());
    if (response.lag_events() == 0) {
      for (const auto& v : response.views()) out[v.view()] = v.digest();
      return out;
    }
    REQUIRE(absl::Now() < until);
    absl::SleepFor(absl::Milliseconds(20));
  }
}

CONFORMANCE_CASE("idempotency: a retry returns the first answer, a reused key is refused") {
  TestServer server(ServerOptions());
  SeedFixture(server);
  const uint64_t end = server.LogEnd();
  auto request = CheckInReq();
  request.mutable_meta()->set_idempotency_key("conf-key-1");
  auto first = server.Call(server.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, request);
  INFO(first.status.error_message());
  REQUIRE(first.ok());
  auto again = server.Call(server.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, request);
  REQUIRE(again.ok());
  CHECK(again.response.deduplicated());
  REQUIRE(again.response.events_size() == first.response.events_size());
  CHECK(again.response.events(0).event_id() == first.response.events(0).event_id());
  CHECK(again.response.events(0).position().offset() ==
        first.response.events(0).position().offset());
  auto other = CheckInReq(fx::kEmployee2);
  other.mutable_meta()->set_idempotency_key("conf-key-1");
  auto reused = server.Call(server.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, other);
  CHECK(reused.status.error_code() == grpc::StatusCode::ALREADY_EXISTS);
  CHECK(server.LogEnd() > end);
  const auto events = CheckServerLog(server);
  CHECK(EventsWithId(events, first.response.events(0).event_id()).size() == 1);
  // Still answered from the log after a restart.
  server.Restart();
  auto after = server.Call(server.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, request);
  REQUIRE(after.ok());
  CHECK(after.response.deduplicated());
  CHECK(after.response.events(0).event_id() == first.response.events(0).event_id());
}

CONFORMANCE_CASE("hash chain and atomic batches through the server, across a restart") {
  TestServer server(ServerOptions());
  SeedFixture(server);
  auto batch = server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetrics,
                           ObserveMetricsReq(25));
  INFO(batch.status.error_message());
  REQUIRE(batch.ok());
  CHECK(batch.response.events_size() == 25);
  server.Restart();
  auto more = server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetrics,
                          ObserveMetricsReq(5, fx::kEmployee2));
  REQUIRE(more.ok());
  const auto events = CheckServerLog(server);
  CHECK(EventsOfType(events, "MetricObserved").size() == 30);
}

CONFORMANCE_CASE("projector exactly once: views equal a rebuild after restarts") {
  TestServer server(ServerOptions());
  SeedFixture(server);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 5; i++) {
      auto r = server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetrics,
                           ObserveMetricsReq(10, i % 2 == 0 ? fx::kEmployee : fx::kEmployee2));
      REQUIRE(r.ok());
      auto c = server.Call(server.check_ins(), &v1::CheckIns::Stub::RecordCheckIn,
                           CheckInReq(i % 2 == 0 ? fx::kEmployee : fx::kEmployee2));
      REQUIRE(c.ok());
    }
    auto score = server.Call(server.reviews(), &v1::Reviews::Stub::SubmitScore,
                             SubmitScoreReq(absl::StrCat("S", round)));
    INFO(score.status.error_message());
    REQUIRE(score.ok());
    // The restart resumes the projector from its checkpoint: nothing applied twice or skipped.
    server.Restart();
  }
  const auto live = Digests(server, /*rebuild=*/false);
  CHECK(!live.empty());
  CHECK(live == Digests(server, /*rebuild=*/true));
}

CONFORMANCE_CASE("bulk folding: the same views as batch by batch, across a stop") {
  FreshLog f(4);
  views_test::LogWriter writer(f.log.get(), /*keep_history=*/false);
  views_test::HistoryOptions history;
  history.seed = 31;
  history.events = 4000;
  views_test::GenerateHistory(history, writer);
  REQUIRE(writer.Flush().ok());
  auto fold = [&](const std::string& dir, projections::ProjectorOptions options,
                  uint64_t stop_after) {
    auto store = views_test::OpenStore(f.dir->Sub(dir));
    auto p = projections::Projector::Start(f.log.get(), store.get(), projections::AllViews(),
                                           options);
    REQUIRE(p.ok());
    if (stop_after > 0) {
      // Stopped part-way (what was folded since the last ingest is lost), then reopened.
      while ((*p)->events_applied() < stop_after && (*p)->health().ok()) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      p->reset();
      store.reset();
      store = views_test::OpenStore(f.dir->Sub(dir));
      p = projections::Projector::Start(f.log.get(), store.get(), projections::AllViews(),
                                        options);
      REQUIRE(p.ok());
    }
    const absl::Status s = (*p)->WaitCaughtUp(absl::Now() + absl::Seconds(120));
    INFO(s.ToString());
    REQUIRE(s.ok());
    auto digests = (*p)->Digests();
    REQUIRE(digests.ok());
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& d : *digests) out.emplace_back(d.view, d.digest_hex);
    return out;
  };
  projections::ProjectorOptions plain;
  plain.bulk_lag_events = 0;
  projections::ProjectorOptions bulk;
  bulk.batch_events = 64;
  bulk.bulk_batch_events = 64;
  bulk.bulk_lag_events = 300;
  bulk.bulk_bytes = 24 << 10;  // many ingests, most of them on the ingest thread
  bulk.linger = absl::ZeroDuration();
  const auto expected = fold("plain", plain, 0);
  CHECK(fold("bulk", bulk, 0) == expected);
  CHECK(fold("bulk-stopped", bulk, writer.events() / 2) == expected);
}

}  // namespace
}  // namespace perfledger::testing
