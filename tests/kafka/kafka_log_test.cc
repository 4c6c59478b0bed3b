// KafkaLog against a real broker. The broker's address comes from PERFLEDGER_KAFKA_BROKERS
// (deploy/kafka/kafka.sh up; then PERFLEDGER_KAFKA_BROKERS=127.0.0.1:19092). Without it, or
// with the broker down, every test FAILS with a message saying so: these tests never skip.
// Every log gets its own topic prefix (pid + time + counter), so reruns never collide.
#include <librdkafka/rdkafka.h>
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
#include "ledger/hash_chain.h"
#include "ledger/kafka_log.h"

namespace perfledger {
namespace {

std::string Brokers() {
  const char* brokers = std::getenv("PERFLEDGER_KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') {
    FAIL("PERFLEDGER_KAFKA_BROKERS is not set. The Kafka tests need a real broker: run "
         "`deploy/kafka/kafka.sh up` and export PERFLEDGER_KAFKA_BROKERS=127.0.0.1:19092 "
         "(these tests never skip).");
  }
  // One probe per process: an unreachable broker fails every test at once, not after each
  // test's open_timeout.
  static const std::string probe = [&]() -> std::string {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return errstr;
    }
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == nullptr) return errstr;
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, nullptr, &md, 10000);
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return err == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : rd_kafka_err2str(err);
  }();
  if (!probe.empty()) {
    FAIL("the Kafka broker at PERFLEDGER_KAFKA_BROKERS=" << brokers << " is unreachable ("
         << probe << "): start it with `deploy/kafka/kafka.sh up` (these tests never skip).");
  }
  return brokers;
}

std::string UniquePrefix() {
  static std::atomic<int> counter{0};
  return absl::StrCat("pltest-", getpid(), "-", absl::ToUnixMillis(absl::Now()), "-",
                      counter.fetch_add(1));
}

KafkaLogOptions Options(const std::string& prefix, uint32_t data_partitions = 3) {
  KafkaLogOptions o;
  o.brokers = Brokers();
  o.topic_prefix = prefix;
  o.data_partitions = data_partitions;
  o.open_timeout = absl::Seconds(20);
  return o;
}

std::unique_ptr<KafkaLog> OpenOrFail(const KafkaLogOptions& o) {
  auto log = KafkaLog::Open(o);
  if (!log.ok()) {
    FAIL("cannot open a KafkaLog on broker " << o.brokers << " (is it up? "
                                             << "deploy/kafka/kafka.sh status): "
                                             << log.status().ToString());
  }
  return std::move(*log);
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
  e.set_payload(absl::StrCat("payload of ", id, std::string(100, 'x')));
  e.mutable_position()->set_partition(partition);
  return e;
}

std::vector<LogPosition> AppendOk(EventLog& log, std::vector<v1::Envelope> events) {
  auto r = AppendAndWait(log, std::move(events));
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

// Every event of `partition`, read in chunks of `chunk` (a sequential scan).
std::vector<StoredEvent> ReadAll(EventLog& log, uint32_t partition, size_t chunk = 1000) {
  std::vector<StoredEvent> all;
  const uint64_t end = log.Ends()[PartitionId(partition)].value();
  uint64_t from = 0;
  while (from < end) {
    auto batch = log.Read(PartitionId(partition), Offset(from), chunk);
    INFO(batch.status().ToString());
    REQUIRE(batch.ok());
    if (batch->empty()) break;
    for (auto& e : *batch) {
      REQUIRE(e.position().offset() >= from);
      from = e.position().offset() + 1;
      all.push_back(std::move(e));
    }
  }
  return all;
}

// Verifies the whole chain of every partition; returns the event count.
size_t VerifyChains(EventLog& log) {
  size_t total = 0;
  const std::vector<std::string> tips = log.ChainTips();
  for (uint32_t p = 0; p < log.partitions(); p++) {
    std::string prev = GenesisHash();
    uint64_t seq = 0;
    uint64_t last_offset = 0;
    for (const StoredEvent& e : ReadAll(log, p, 7)) {
      absl::Status s = VerifyLink(e, prev, seq);
      INFO(s.ToString());
      REQUIRE(s.ok());
      if (seq > 0) REQUIRE(e.position().offset() > last_offset);
      last_offset = e.position().offset();
      prev = e.hash();
      seq++;
      total++;
    }
    REQUIRE(tips[p] == prev);
  }
  return total;
}

TEST_CASE("kafka: append and read round trip with positions", "[kafka]") {
  auto log = OpenOrFail(Options(UniquePrefix()));
  REQUIRE(log->backend() == "kafka");
  REQUIRE(log->partitions() == 4);
  REQUIRE(log->Ends() == LogEnds(4));
  REQUIRE(log->ChainTips() == std::vector<std::string>(4, GenesisHash()));

  auto positions = AppendOk(*log, {Event(1, "a", "E1"), Event(2, "b", "E2"), Event(0, "c")});
  REQUIRE(positions.size() == 3);
  REQUIRE(positions[0].partition == PartitionId(1));
  REQUIRE(positions[1].partition == PartitionId(2));
  REQUIRE(positions[2].partition == kControlPartition);
  const LogEnds ends = log->Ends();
  for (const LogPosition& pos : positions) REQUIRE(ends[pos.partition] == pos.offset + 1);
  REQUIRE(ends[PartitionId(3)] == Offset(0));

  const char* ids[] = {"a", "b", "c"};
  for (size_t i = 0; i < positions.size(); i++) {
    auto read = log->Read(positions[i].partition, Offset(0), 10);
    REQUIRE(read.ok());
    REQUIRE(read->size() == 1);
    const StoredEvent& e = read->front();
    REQUIRE(PositionOf(e.position()) == positions[i]);
    REQUIRE(e.event_id() == ids[i]);
    REQUIRE(e.type() == "MetricObserved");
    REQUIRE(e.payload() == absl::StrCat("payload of ", ids[i], std::string(100, 'x')));
    REQUIRE(e.sequence() == 0);
    REQUIRE(e.recorded_at().seconds() > 0);
    REQUIRE(VerifyLink(e, GenesisHash(), 0).ok());
  }
  REQUIRE(log->Read(PartitionId(1), ends[PartitionId(1)], 10)->empty());
  REQUIRE(log->Read(PartitionId(3), Offset(0), 10)->empty());
  REQUIRE(log->Read(PartitionId(4), Offset(0), 10).status().code() ==
          absl::StatusCode::kInvalidArgument);

  // The Kafka record itself: key, headers, and a value without a position.
  const std::string brokers = Brokers();
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[256];
  REQUIRE(rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr,
                            sizeof(errstr)) == RD_KAFKA_CONF_OK);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  REQUIRE(rk != nullptr);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, log->events_topic().c_str(), nullptr);
  const auto first_offset = static_cast<int64_t>(positions[0].offset.value());
  REQUIRE(rd_kafka_consume_start(rkt, 0, first_offset) == 0);
  rd_kafka_message_t* m = rd_kafka_consume(rkt, 0, 10000);
  REQUIRE(m != nullptr);
  REQUIRE(m->err == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(std::string(static_cast<const char*>(m->key), m->key_len) == "E1");
  rd_kafka_headers_t* headers = nullptr;
  REQUIRE(rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR);
  auto header = [&](const char* name) {
    const void* value = nullptr;
    size_t size = 0;
    REQUIRE(rd_kafka_header_get_last(headers, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR);
    return std::string(static_cast<const char*>(value), size);
  };
  REQUIRE(header("pl-type") == "MetricObserved");
  REQUIRE(header("pl-schema") == "1");
  REQUIRE(header("pl-event-id") == "a");
  v1::Envelope raw;
  REQUIRE(raw.ParseFromArray(m->payload, static_cast<int>(m->len)));
  REQUIRE_FALSE(raw.has_position());
  rd_kafka_message_destroy(m);
  rd_kafka_consume_stop(rkt, 0);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
}

TEST_CASE("kafka: a multi-event batch across partitions is atomic", "[kafka]") {
  const std::string prefix = UniquePrefix();
  auto log = OpenOrFail(Options(prefix));
  AppendOk(*log, {Event(1, "first")});
  const LogEnds before = log->Ends();

  std::vector<v1::Envelope> batch;
  for (uint32_t p = 0; p < 4; p++) {
    batch.push_back(Event(p, absl::StrCat("x", p, "a"), absl::StrCat("K", p)));
    batch.push_back(Event(p, absl::StrCat("x", p, "b"), absl::StrCat("K", p)));
  }
  auto positions = AppendOk(*log, batch);
  REQUIRE(positions.size() == 8);
  const LogEnds after = log->Ends();
  for (PartitionId p : AllPartitions(4)) {
    const size_t i = 2 * p.value();
    REQUIRE(positions[i].partition == p);
    REQUIRE(positions[i + 1].partition == p);
    REQUIRE(positions[i].offset >= before[p]);
    REQUIRE(positions[i + 1].offset > positions[i].offset);
    REQUIRE(after[p] == positions[i + 1].offset + 1);
  }

  // An independent reader (a replica) sees the batch whole.
  KafkaLogOptions ro = Options(prefix);
  ro.role = KafkaRole::kReadReplica;
  auto replica = OpenOrFail(ro);
  REQUIRE(replica->Ends() == after);
  for (uint32_t p = 0; p < 4; p++) {
    auto events = ReadAll(*replica, p);
    REQUIRE(events.size() >= 2);
    REQUIRE(events[events.size() - 2].event_id() == absl::StrCat("x", p, "a"));
    REQUIRE(events.back().event_id() == absl::StrCat("x", p, "b"));
  }

  // A batch the log refuses writes nothing, not even its valid events.
  std::vector<v1::Envelope> bad = {Event(1, "ok"), Event(9, "no such partition")};
  REQUIRE(AppendAndWait(*log, bad).status().code() == absl::StatusCode::kInvalidArgument);
  std::vector<v1::Envelope> huge = {Event(2, "big")};
  huge[0].set_payload(std::string(limits::kKafkaRecordBytesMax + 1, 'z'));
  REQUIRE(AppendAndWait(*log, huge).status().code() == absl::StatusCode::kResourceExhausted);
  REQUIRE(log->Ends() == after);
  // ... and the chain continues as if they never happened.
  AppendOk(*log, {Event(2, "after refusals")});
  REQUIRE(VerifyChains(*log) == 1 + 8 + 1);
}

TEST_CASE("kafka: concurrent appenders keep order per partition", "[kafka]") {
  auto log = OpenOrFail(Options(UniquePrefix()));
  constexpr int kThreads = 8;
  constexpr int kAppends = 25;
  std::vector<std::vector<LogPosition>> seen(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; i++) {
        const uint32_t p = 1 + static_cast<uint32_t>((t + i) % 3);
        auto r = AppendAndWait(*log, {Event(p, absl::StrCat("t", t, "-", i, "-a")),
                                      Event(0, absl::StrCat("t", t, "-", i, "-c")),
                                      Event(p, absl::StrCat("t", t, "-", i, "-b"))});
        if (!r.ok()) {
          failures++;
          return;
        }
        for (const LogPosition& pos : *r) seen[t].push_back(pos);
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures == 0);

  // Each thread's appends are ordered as its calls, in every partition.
  for (int t = 0; t < kThreads; t++) {
    std::map<PartitionId, Offset> last;
    for (const LogPosition& pos : seen[t]) {
      auto it = last.find(pos.partition);
      if (it != last.end()) REQUIRE(pos.offset > it->second);
      last[pos.partition] = pos.offset;
    }
  }
  // Within one append, "-a" precedes "-b"; sequences are contiguous; all events are there.
  size_t total = 0;
  for (uint32_t p = 0; p < 4; p++) {
    auto events = ReadAll(*log, p);
    std::map<std::string, uint64_t> offset_of;
    for (size_t i = 0; i < events.size(); i++) {
      REQUIRE(events[i].sequence() == i);
      offset_of[events[i].event_id()] = events[i].position().offset();
    }
    for (const auto& [id, offset] : offset_of) {
      if (id.back() == 'a') {
        std::string b = id;
        b.back() = 'b';
        REQUIRE(offset_of.count(b) == 1);
        REQUIRE(offset < offset_of[b]);
      }
    }
    total += events.size();
  }
  REQUIRE(total == kThreads * kAppends * 3);
  REQUIRE(VerifyChains(*log) == total);
  INFO("transactions: " << log->stats().transactions);
  REQUIRE(log->stats().transactions <= kThreads * kAppends);
}

TEST_CASE("kafka: the hash chain verifies on every event, reads continue cursors", "[kafka]") {
  auto log = OpenOrFail(Options(UniquePrefix(), 2));
  for (int i = 0; i < 20; i++) {
    AppendOk(*log, {Event(1 + i % 2, absl::StrCat("e", i, "a")),
                    Event(1 + (i + 1) % 2, absl::StrCat("e", i, "b")),
                    Event(0, absl::StrCat("e", i, "c"))});
  }
  REQUIRE(VerifyChains(*log) == 60);
  const KafkaLogStats stats = log->stats();
  REQUIRE(stats.cursor_hits > stats.cursor_seeks);  // chunked scans continue, they don't seek

  // Log.Status's figures: events counted from the sequences, not from offsets, which the
  // transaction markers take too; 20 appends in at most 20 transactions.
  const LogSummary summary = log->Summary();
  REQUIRE(summary.partitions.size() == 3);
  for (uint32_t p = 0; p < 3; p++) {
    INFO("partition " << p);
    REQUIRE(summary.partitions[p].events == 20);
    REQUIRE(summary.partitions[p].end > Offset(20));
    REQUIRE(summary.partitions[p].end == log->Ends()[PartitionId(p)]);
    REQUIRE(summary.partitions[p].tip == log->ChainTips()[p]);
  }
  REQUIRE(summary.appends == 20);
  REQUIRE(summary.group_commits >= 1);
  REQUIRE(summary.group_commits <= 20);
  REQUIRE(summary.group_commits == stats.transactions);

  // Random access and two readers interleaving on one partition.
  auto all = ReadAll(*log, 1);
  REQUIRE(all.size() == 20);
  auto middle = log->Read(PartitionId(1), Offset(all[13].position().offset()), 3);
  REQUIRE(middle.ok());
  REQUIRE(middle->size() == 3);
  REQUIRE(middle->front().event_id() == all[13].event_id());
  REQUIRE(middle->back().event_id() == all[15].event_id());
  uint64_t a = 0, b = all[10].position().offset();
  for (int round = 0; round < 2; round++) {
    auto ra = log->Read(PartitionId(1), Offset(a), 4);
    auto rb = log->Read(PartitionId(1), Offset(b), 4);
    REQUIRE(ra.ok());
    REQUIRE(rb.ok());
    REQUIRE(ra->size() == 4);
    REQUIRE(rb->size() == 4);
    REQUIRE(ra->front().event_id() == all[round * 4].event_id());
    REQUIRE(rb->front().event_id() == all[10 + round * 4].event_id());
    a = ra->back().position().offset() + 1;
    b = rb->back().position().offset() + 1;
  }
}

TEST_CASE("kafka: reopen recovers the tips and the chain continues", "[kafka]") {
  const std::string prefix = UniquePrefix();
  std::vector<std::string> tips;
  LogEnds ends;
  {
    auto log = OpenOrFail(Options(prefix));
    for (int i = 0; i < 5; i++) {
      AppendOk(*log, {Event(1, absl::StrCat("r", i)), Event(2, absl::StrCat("s", i)),
                      Event(0, absl::StrCat("c", i))});
    }
    tips = log->ChainTips();
    ends = log->Ends();
    log->Close();
    REQUIRE(AppendAndWait(*log, {Event(1, "after close")}).status().code() ==
            absl::StatusCode::kUnavailable);
  }
  auto log = OpenOrFail(Options(prefix));
  REQUIRE(log->ChainTips() == tips);
  REQUIRE(log->Ends() == ends);
  auto positions = AppendOk(*log, {Event(1, "r5"), Event(3, "t0")});
  // Kafka offsets jump over the transaction marker; the sequence does not.
  REQUIRE(positions[0].offset > ends[PartitionId(1)]);
  auto events = ReadAll(*log, 1);
  REQUIRE(events.size() == 6);
  REQUIRE(events.back().event_id() == "r5");
  REQUIRE(events.back().sequence() == 5);
  REQUIRE(events.back().prev_hash() == tips[1]);
  REQUIRE(VerifyChains(*log) == 15 + 2);
}

TEST_CASE("kafka: WaitForAppend wakes on a commit and times out otherwise", "[kafka]") {
  auto log = OpenOrFail(Options(UniquePrefix()));
  const LogEnds seen = log->Ends();
  const absl::Time t0 = absl::Now();
  REQUIRE(log->WaitForAppend(seen, t0 + absl::Milliseconds(300)) == seen);
  REQUIRE(absl::Now() - t0 >= absl::Milliseconds(290));

  LogEnds woke;
  absl::Duration waited;
  std::thread waiter([&] {
    const absl::Time start = absl::Now();
    woke = log->WaitForAppend(seen, start + absl::Seconds(30));
    waited = absl::Now() - start;
  });
  absl::SleepFor(absl::Milliseconds(200));
  auto positions = AppendOk(*log, {Event(2, "wake")});
  waiter.join();
  REQUIRE(woke != seen);
  REQUIRE(woke[PartitionId(2)] == positions[0].offset + 1);
  REQUIRE(waited < absl::Seconds(10));
}

TEST_CASE("kafka: a second writer with the same transactional id fences the first", "[kafka]") {
  const std::string prefix = UniquePrefix();
  auto first = OpenOrFail(Options(prefix));
  AppendOk(*first, {Event(1, "by first")});

  auto second = OpenOrFail(Options(prefix));  // same prefix → same default transactional.id
  auto fenced = AppendAndWait(*first, {Event(1, "by first, fenced")});
  INFO(fenced.status().ToString());
  REQUIRE(fenced.status().code() == absl::StatusCode::kFailedPrecondition);
  // Sticky, and fast.
  const absl::Time t0 = absl::Now();
  auto again = AppendAndWait(*first, {Event(2, "by first, again")});
  REQUIRE(again.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(absl::Now() - t0 < absl::Seconds(1));

  AppendOk(*second, {Event(1, "by second")});
  auto events = ReadAll(*second, 1);
  REQUIRE(events.size() == 2);
  REQUIRE(events[0].event_id() == "by first");
  REQUIRE(events[1].event_id() == "by second");
  REQUIRE(VerifyChains(*second) == 2);
}

TEST_CASE("kafka: a read replica follows the writer and cannot append", "[kafka]") {
  const std::string prefix = UniquePrefix();
  auto writer = OpenOrFail(Options(prefix));
  AppendOk(*writer, {Event(1, "w0"), Event(0, "w0c")});

  KafkaLogOptions ro = Options(prefix);
  ro.role = KafkaRole::kReadReplica;
  auto replica = OpenOrFail(ro);
  REQUIRE(replica->Ends() == writer->Ends());
  REQUIRE(replica->ChainTips() == writer->ChainTips());
  auto refused = AppendAndWait(*replica, {Event(1, "from replica")});
  REQUIRE(refused.status().code() == absl::StatusCode::kFailedPrecondition);

  const LogEnds seen = replica->Ends();
  LogEnds woke;
  absl::Duration waited;
  std::thread waiter([&] {
    const absl::Time start = absl::Now();
    woke = replica->WaitForAppend(seen, start + absl::Seconds(30));
    waited = absl::Now() - start;
  });
  absl::SleepFor(absl::Milliseconds(100));
  auto positions = AppendOk(*writer, {Event(3, "w1")});
  waiter.join();
  REQUIRE(woke[PartitionId(3)] == positions[0].offset + 1);
  REQUIRE(waited < absl::Seconds(5));
  auto read = replica->Read(PartitionId(3), Offset(0), 10);
  REQUIRE(read.ok());
  REQUIRE(read->size() == 1);
  REQUIRE(read->front().event_id() == "w1");
  REQUIRE(Offset(read->front().position().offset()) == positions[0].offset);

  // Catch up fully, then the replica's view equals the writer's.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (replica->Ends() != writer->Ends() && absl::Now() < deadline) {
    replica->WaitForAppend(replica->Ends(), deadline);
  }
  REQUIRE(replica->Ends() == writer->Ends());
  REQUIRE(replica->ChainTips() == writer->ChainTips());
  REQUIRE(VerifyChains(*replica) == 3);
  // The replica counts the events it follows, and writes none.
  const LogSummary followed = replica->Summary();
  const LogSummary written = writer->Summary();
  REQUIRE(followed.partitions.size() == written.partitions.size());
  for (size_t p = 0; p < written.partitions.size(); p++) {
    REQUIRE(followed.partitions[p].events == written.partitions[p].events);
  }
  REQUIRE(written.partitions[0].events == 1);
  REQUIRE(written.partitions[3].events == 1);
  REQUIRE(followed.appends == 0);
  REQUIRE(followed.group_commits == 0);
}

TEST_CASE("kafka: reopening with another partition count fails", "[kafka]") {
  const std::string prefix = UniquePrefix();
  { auto log = OpenOrFail(Options(prefix, 4)); }
  auto fewer = KafkaLog::Open(Options(prefix, 3));
  REQUIRE(fewer.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(fewer.status().message().find("4 partitions") != std::string::npos);
  KafkaLogOptions ro = Options(prefix, 5);
  ro.role = KafkaRole::kReadReplica;
  REQUIRE(KafkaLog::Open(ro).status().code() == absl::StatusCode::kFailedPrecondition);
  auto adopt = KafkaLog::Open(Options(prefix, 0));  // 0 = whatever the log has
  REQUIRE(adopt.ok());
  REQUIRE((*adopt)->data_partitions() == 4);
}

TEST_CASE("kafka: an existing topic that would lose history is refused", "[kafka]") {
  const std::string prefix = UniquePrefix();
  // Create the events topic by hand with the broker's default retention (7 days).
  const std::string brokers = Brokers();
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[256];
  REQUIRE(rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr,
                            sizeof(errstr)) == RD_KAFKA_CONF_OK);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  REQUIRE(rk != nullptr);
  rd_kafka_NewTopic_t* topics[2] = {
      rd_kafka_NewTopic_new((prefix + ".control").c_str(), 1, 1, errstr, sizeof(errstr)),
      rd_kafka_NewTopic_new((prefix + ".events").c_str(), 3, 1, errstr, sizeof(errstr)),
  };
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, topics, 2, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 20000);
  REQUIRE(ev != nullptr);
  REQUIRE(rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_event_destroy(ev);
  rd_kafka_NewTopic_destroy_array(topics, 2);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);

  auto log = KafkaLog::Open(Options(prefix));
  INFO(log.status().ToString());
  REQUIRE(log.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(log.status().message().find("retention.ms") != std::string::npos);
}

}  // namespace
}  // namespace perfledger
