// Append throughput of KafkaLog next to raw librdkafka on the same broker, in one run.
//
//   kafka_log_bench [brokers] [seconds] [value_bytes] [raw]
//                                 (brokers default: $PERFLEDGER_KAFKA_BROKERS; value_bytes 300)
//
// With "raw" only step 2 runs: the librdkafka ceiling for perfledgerd's own ingest, with
// value_bytes = the size of perfledgerd's records (tests/kafka/ingest_ratio.sh).
//
// 1. KafkaLog: 8 appenders, each appending batches of 100 events (~300-byte Kafka values)
//    and waiting for each, for `seconds`.
// 2. librdkafka alone, idempotent producer with acks=all (what KafkaLog's producer is minus
//    transactions), 300-byte values, as fast as it goes, for `seconds`.
// 3. librdkafka alone, transactional, 800 records per transaction (the size of a full KafkaLog
//    group here), one transaction after another: the ceiling of one transactional producer.
// Not a test: numbers depend on the machine. Topics are unique per run.
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ledger/kafka_log.h"

namespace perfledger {
namespace {

constexpr int kAppenders = 8;
constexpr int kBatch = 100;
constexpr size_t kValueBytes = 300;
// The raw producers' value size (argument 3).
size_t g_raw_value_bytes = kValueBytes;

v1::Envelope MakeEvent(uint32_t partition, int thread, uint64_t n, size_t payload_bytes) {
  v1::Envelope e;
  e.set_event_id(absl::StrCat("b", thread, "-", n));
  e.set_type("MetricObserved");
  e.set_stream(absl::StrCat("employee/E", n % 1000));
  e.set_stream_version(n + 1);
  e.set_partition_key(absl::StrCat("E", n % 1000));
  e.set_schema_version(1);
  e.set_payload(std::string(payload_bytes, 'p'));
  e.mutable_position()->set_partition(partition);
  return e;
}

// The payload size that makes a sealed envelope (as stored in Kafka) ~kValueBytes.
size_t PayloadBytesFor300() {
  v1::Envelope e = MakeEvent(1, 0, 123456, 0);
  e.set_prev_hash(std::string(32, 'h'));
  e.set_hash(std::string(32, 'h'));
  e.set_payload_sha256(std::string(32, 'h'));
  e.set_sequence(123456);
  e.mutable_recorded_at()->set_seconds(1'700'000'000);
  e.mutable_recorded_at()->set_nanos(123'456'000);
  e.clear_position();
  const size_t header = e.ByteSizeLong() + 3;  // + payload tag and length
  return kValueBytes > header ? kValueBytes - header : 1;
}

struct Latencies {
  std::vector<double> ms;
  double Percentile(double q) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  }
};

void BenchKafkaLog(const std::string& brokers, int seconds) {
  KafkaLogOptions o;
  o.brokers = brokers;
  o.topic_prefix = absl::StrCat("plbench-", getpid(), "-", absl::ToUnixMillis(absl::Now()));
  o.data_partitions = 8;
  auto opened = KafkaLog::Open(o);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    std::exit(1);
  }
  KafkaLog& log = **opened;
  const size_t payload = PayloadBytesFor300();
  std::atomic<uint64_t> events{0};
  std::atomic<bool> failed{false};
  std::vector<Latencies> lat(kAppenders);
  const absl::Time stop = absl::Now() + absl::Seconds(seconds);
  std::vector<std::thread> threads;
  const absl::Time t0 = absl::Now();
  for (int t = 0; t < kAppenders; t++) {
    threads.emplace_back([&, t] {
      uint64_t n = 0;
      while (absl::Now() < stop && !failed) {
        std::vector<v1::Envelope> batch;
        batch.reserve(kBatch);
        for (int i = 0; i < kBatch; i++, n++) {
          batch.push_back(MakeEvent(1 + static_cast<uint32_t>((n + t) % 8), t, n, payload));
        }
        const absl::Time a = absl::Now();
        auto r = AppendAndWait(log, std::move(batch));
        if (!r.ok()) {
          std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
          failed = true;
          return;
        }
        lat[t].ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - a));
        events += kBatch;
      }
    });
  }
  for (auto& th : threads) th.join();
  const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  Latencies all;
  for (auto& l : lat) all.ms.insert(all.ms.end(), l.ms.begin(), l.ms.end());
  auto first = log.Read(PartitionId(1), Offset(0), 1);
  const size_t value_bytes = first.ok() && !first->empty() ? [&] {
    v1::Envelope e = first->front();
    e.clear_position();
    return e.ByteSizeLong();
  }() : 0;
  const KafkaLogStats stats = log.stats();
  std::printf(
      "KafkaLog: %d appenders x %d-event batches, %zu-byte values: %.0f events/s (%.1f MB/s), "
      "%llu transactions (%.0f events each), append latency p50 %.1f ms p99 %.1f ms\n",
      kAppenders, kBatch, value_bytes, events / secs, events * value_bytes / secs / 1e6,
      static_cast<unsigned long long>(stats.transactions),
      stats.transactions ? static_cast<double>(stats.events) / stats.transactions : 0.0,
      all.Percentile(0.5), all.Percentile(0.99));
}

rd_kafka_t* NewProducer(const std::string& brokers, bool transactional, const std::string& id) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[256];
  auto set = [&](const char* k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "%s: %s\n", k, errstr);
      std::exit(1);
    }
  };
  set("bootstrap.servers", brokers);
  set("enable.idempotence", "true");
  set("acks", "all");
  set("linger.ms", "2");
  if (transactional) set("transactional.id", id);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    std::fprintf(stderr, "producer: %s\n", errstr);
    std::exit(1);
  }
  return rk;
}

void CreateTopic(rd_kafka_t* rk, const std::string& name, int partitions) {
  char errstr[256];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(name.c_str(), partitions, 1, errstr,
                                                  sizeof(errstr));
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  if (ev == nullptr || rd_kafka_event_error(ev)) {
    std::fprintf(stderr, "create topic %s failed\n", name.c_str());
    std::exit(1);
  }
  rd_kafka_event_destroy(ev);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  absl::SleepFor(absl::Seconds(1));  // leaders settle
}

void BenchRaw(const std::string& brokers, int seconds) {
  const std::string topic = absl::StrCat("plbench-raw-", getpid(), "-",
                                         absl::ToUnixMillis(absl::Now()));
  rd_kafka_t* rk = NewProducer(brokers, false, "");
  CreateTopic(rk, topic, 8);
  const std::string value(g_raw_value_bytes, 'v');
  uint64_t sent = 0;
  const absl::Time t0 = absl::Now();
  const absl::Time stop = t0 + absl::Seconds(seconds);
  while (absl::Now() < stop) {
    for (int i = 0; i < 1000; i++, sent++) {
      while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                               RD_KAFKA_V_PARTITION(static_cast<int32_t>(sent % 8)),
                               RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 1);
      }
    }
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 60000);
  const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  std::printf("librdkafka idempotent acks=all, %zu-byte values: %.0f msgs/s (%.1f MB/s)\n",
              g_raw_value_bytes, sent / secs, sent * g_raw_value_bytes / secs / 1e6);
  rd_kafka_destroy(rk);
}

void BenchRawTransactional(const std::string& brokers, int seconds) {
  const std::string topic = absl::StrCat("plbench-txn-", getpid(), "-",
                                         absl::ToUnixMillis(absl::Now()));
  rd_kafka_t* rk = NewProducer(brokers, true, topic + "-id");
  CreateTopic(rk, topic, 8);
  if (rd_kafka_error_t* e = rd_kafka_init_transactions(rk, 30000)) {
    std::fprintf(stderr, "init: %s\n", rd_kafka_error_string(e));
    std::exit(1);
  }
  const std::string value(kValueBytes, 'v');
  uint64_t sent = 0, txns = 0;
  const absl::Time t0 = absl::Now();
  const absl::Time stop = t0 + absl::Seconds(seconds);
  while (absl::Now() < stop) {
    rd_kafka_begin_transaction(rk);
    for (int i = 0; i < kAppenders * kBatch; i++, sent++) {
      rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                        RD_KAFKA_V_PARTITION(static_cast<int32_t>(sent % 8)),
                        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    }
    if (rd_kafka_error_t* e = rd_kafka_commit_transaction(rk, -1)) {
      std::fprintf(stderr, "commit: %s\n", rd_kafka_error_string(e));
      std::exit(1);
    }
    txns++;
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  std::printf(
      "librdkafka transactional, %d records/transaction, %zu-byte values: %.0f msgs/s (%.1f "
      "MB/s), %.0f transactions/s\n",
      kAppenders * kBatch, kValueBytes, sent / secs, sent * kValueBytes / secs / 1e6,
      txns / secs);
  rd_kafka_destroy(rk);
}

}  // namespace
}  // namespace perfledger

int main(int argc, char** argv) {
  const char* env = std::getenv("PERFLEDGER_KAFKA_BROKERS");
  const std::string brokers = argc > 1 ? argv[1] : (env != nullptr ? env : "");
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 10;
  if (argc > 3) perfledger::g_raw_value_bytes = static_cast<size_t>(std::atol(argv[3]));
  const bool raw_only = argc > 4 && std::string(argv[4]) == "raw";
  if (brokers.empty()) {
    std::fprintf(stderr, "usage: %s BROKERS [SECONDS] (or set PERFLEDGER_KAFKA_BROKERS)\n",
                 argv[0]);
    return 2;
  }
  if (raw_only) {
    perfledger::BenchRaw(brokers, seconds);
    return 0;
  }
  perfledger::BenchKafkaLog(brokers, seconds);
  perfledger::BenchRaw(brokers, seconds);
  perfledger::BenchRawTransactional(brokers, seconds);
  return 0;
}
