// KafkaLog error paths against librdkafka's in-process mock cluster (rdkafka_mock.h): no broker
// needed. The mock has no transaction markers or read_committed filtering, so what a reader
// would see after an abort is checked on the real broker, not here; here we check that failed
// produce requests fail the append with UNAVAILABLE within a bounded time, that nothing of the
// failed group reached a partition, that the log refuses writes until it has recovered (or is
// reopened), and that it recovers on its own, holding writes until the owner resumes them;
// that a fatal producer error recovers the same way unless it means fencing, which stops
// writes for good.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ledger/hash_chain.h"
#include "ledger/kafka_log.h"

namespace perfledger {
namespace {

constexpr int16_t kProduceApiKey = 0;  // Kafka protocol ProduceRequest
constexpr int16_t kEndTxnApiKey = 26;  // Kafka protocol EndTxnRequest (commit or abort)

// A one-broker mock cluster hosted by a throwaway client, with the log's topics created (the
// mock has no CreateTopics).
class MockCluster {
 public:
  MockCluster(const std::string& prefix, int data_partitions) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    REQUIRE(host_ != nullptr);
    mock_ = rd_kafka_mock_cluster_new(host_, 1);
    REQUIRE(mock_ != nullptr);
    REQUIRE(rd_kafka_mock_topic_create(mock_, (prefix + ".control").c_str(), 1, 1) == 0);
    REQUIRE(rd_kafka_mock_topic_create(mock_, (prefix + ".events").c_str(), data_partitions, 1) ==
            0);
  }
  ~MockCluster() {
    if (reader_ != nullptr) rd_kafka_destroy(reader_);
    rd_kafka_mock_cluster_destroy(mock_);
    rd_kafka_destroy(host_);
  }
  rd_kafka_mock_cluster_t* mock() { return mock_; }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mock_); }

  // The high watermark of a topic partition, straight from the mock (no transactions there).
  int64_t HighWatermark(const std::string& topic, int32_t partition) {
    if (reader_ == nullptr) {
      rd_kafka_conf_t* conf = rd_kafka_conf_new();
      char errstr[256];
      rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps().c_str(), errstr, sizeof(errstr));
      // Uncommitted: every record that reached the partition counts.
      rd_kafka_conf_set(conf, "isolation.level", "read_uncommitted", errstr, sizeof(errstr));
      reader_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
      REQUIRE(reader_ != nullptr);
    }
    int64_t low = 0, high = 0;
    REQUIRE(rd_kafka_query_watermark_offsets(reader_, topic.c_str(), partition, &low, &high,
                                             5000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    return high;
  }

 private:
  rd_kafka_t* host_ = nullptr;
  rd_kafka_t* reader_ = nullptr;
  rd_kafka_mock_cluster_t* mock_ = nullptr;
};

v1::Envelope Event(uint32_t partition, const std::string& id) {
  v1::Envelope e;
  e.set_event_id(id);
  e.set_type("MetricObserved");
  e.set_schema_version(1);
  e.set_payload("payload " + id);
  e.mutable_position()->set_partition(partition);
  return e;
}

KafkaLogOptions MockOptions(const std::string& prefix, const std::string& brokers) {
  KafkaLogOptions o;
  o.brokers = brokers;
  o.topic_prefix = prefix;
  o.data_partitions = 2;
  o.append_timeout = absl::Seconds(3);
  o.open_timeout = absl::Seconds(15);
  o.read_timeout = absl::Seconds(3);
  o.verify_topic_configs = false;  // the mock cannot describe configs
  return o;
}

TEST_CASE("kafka mock: produce errors fail the append and poison the log until reopened",
          "[kafka][mock]") {
  MockCluster cluster("mock1", 2);
  auto opened = KafkaLog::Open(MockOptions("mock1", cluster.bootstraps()));
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  std::unique_ptr<KafkaLog> log = std::move(*opened);
  auto ok = AppendAndWait(*log, {Event(1, "ok"), Event(2, "ok2")});
  INFO(ok.status().ToString());
  REQUIRE(ok.ok());
  const LogEnds ends = log->Ends();
  const int64_t hw0 = cluster.HighWatermark("mock1.events", 0);
  const int64_t hw1 = cluster.HighWatermark("mock1.events", 1);

  // Every produce request fails permanently: the group cannot be committed.
  rd_kafka_mock_push_request_errors(cluster.mock(), kProduceApiKey, 20,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  const absl::Time t0 = absl::Now();
  auto failed = AppendAndWait(*log, {Event(1, "lost"), Event(2, "lost2")});
  INFO(failed.status().ToString());
  REQUIRE(failed.status().code() == absl::StatusCode::kUnavailable);
  REQUIRE(absl::Now() - t0 < absl::Seconds(5));
  // Nothing half-visible: no record of the group reached either partition.
  REQUIRE(log->Ends() == ends);
  REQUIRE(cluster.HighWatermark("mock1.events", 0) == hw0);
  REQUIRE(cluster.HighWatermark("mock1.events", 1) == hw1);
  // Sticky: later appends fail at once.
  auto refused = AppendAndWait(*log, {Event(1, "later")});
  REQUIRE(refused.status().code() == absl::StatusCode::kUnavailable);
  REQUIRE(refused.status().message().find("failed write") != std::string::npos);

  // A reopened log continues the chain from what is really in the log.
  rd_kafka_mock_clear_request_errors(cluster.mock(), kProduceApiKey);
  const std::vector<std::string> tips = log->ChainTips();
  log.reset();
  auto reopened = KafkaLog::Open(MockOptions("mock1", cluster.bootstraps()));
  INFO(reopened.status().ToString());
  REQUIRE(reopened.ok());
  REQUIRE((*reopened)->ChainTips() == tips);
  auto again = AppendAndWait(**reopened, {Event(1, "again")});
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  auto events = (*reopened)->Read(PartitionId(1), Offset(0), 10);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 2);
  REQUIRE(events->back().event_id() == "again");
  REQUIRE(VerifyLink(events->back(), tips[1], 1).ok());
}

TEST_CASE("kafka mock: with the broker down an append fails within append_timeout",
          "[kafka][mock]") {
  MockCluster cluster("mock2", 2);
  auto opened = KafkaLog::Open(MockOptions("mock2", cluster.bootstraps()));
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  std::unique_ptr<KafkaLog> log = std::move(*opened);
  REQUIRE(AppendAndWait(*log, {Event(1, "before")}).ok());

  REQUIRE(rd_kafka_mock_broker_set_down(cluster.mock(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  const absl::Time t0 = absl::Now();
  auto failed = AppendAndWait(*log, {Event(1, "during")});
  const absl::Duration took = absl::Now() - t0;
  INFO(failed.status().ToString());
  REQUIRE(failed.status().code() == absl::StatusCode::kUnavailable);
  REQUIRE(took < absl::Seconds(3) + absl::Seconds(2));
  auto fast = AppendAndWait(*log, {Event(1, "still down")});
  REQUIRE(fast.status().code() == absl::StatusCode::kUnavailable);

  // Back up: a reopened log appends again.
  REQUIRE(rd_kafka_mock_broker_set_up(cluster.mock(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  log.reset();
  auto reopened = KafkaLog::Open(MockOptions("mock2", cluster.bootstraps()));
  INFO(reopened.status().ToString());
  REQUIRE(reopened.ok());
  auto after = AppendAndWait(**reopened, {Event(1, "after")});
  INFO(after.status().ToString());
  REQUIRE(after.ok());
}

TEST_CASE("kafka mock: after a failed write the log recovers on its own and holds writes until "
          "resumed",
          "[kafka][mock]") {
  MockCluster cluster("mock3", 2);
  auto opened = KafkaLog::Open(MockOptions("mock3", cluster.bootstraps()));
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  std::unique_ptr<KafkaLog> log = std::move(*opened);
  REQUIRE(AppendAndWait(*log, {Event(1, "before")}).ok());
  const std::vector<std::string> tips = log->ChainTips();

  REQUIRE(rd_kafka_mock_broker_set_down(cluster.mock(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  auto failed = AppendAndWait(*log, {Event(1, "during")});
  REQUIRE(failed.status().code() == absl::StatusCode::kUnavailable);
  REQUIRE(rd_kafka_mock_broker_set_up(cluster.mock(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);

  // The committer replaces its producer and re-reads the tips; then writes are held (still
  // UNAVAILABLE) until the owner has caught up and resumes them.
  const absl::Time until = absl::Now() + absl::Seconds(60);
  while (!log->WritesHeld() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  REQUIRE(log->WritesHeld());
  REQUIRE(log->stats().recoveries == 1);
  REQUIRE(log->ChainTips() == tips);
  auto held = AppendAndWait(*log, {Event(1, "held")});
  REQUIRE(held.status().code() == absl::StatusCode::kUnavailable);
  log->ResumeWrites();
  REQUIRE_FALSE(log->WritesHeld());
  auto after = AppendAndWait(*log, {Event(1, "after")});
  INFO(after.status().ToString());
  REQUIRE(after.ok());
  // The chain continues from the last committed event: nothing of the failed or held appends.
  auto events = log->Read(PartitionId(1), Offset(0), 10);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 2);
  REQUIRE(events->back().event_id() == "after");
  REQUIRE(VerifyLink(events->back(), tips[1], 1).ok());
}

// librdkafka treats INVALID_TXN_STATE from the coordinator as fatal: the producer instance is
// finished, but no other writer exists. A new producer continues the log.
TEST_CASE("kafka mock: a fatal producer error other than fencing is recovered from with a new "
          "producer",
          "[kafka][mock]") {
  MockCluster cluster("mock4", 2);
  auto opened = KafkaLog::Open(MockOptions("mock4", cluster.bootstraps()));
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  std::unique_ptr<KafkaLog> log = std::move(*opened);
  REQUIRE(AppendAndWait(*log, {Event(1, "before")}).ok());

  rd_kafka_mock_push_request_errors(cluster.mock(), kEndTxnApiKey, 1,
                                    RD_KAFKA_RESP_ERR_INVALID_TXN_STATE);
  auto failed = AppendAndWait(*log, {Event(1, "fatal")});
  INFO(failed.status().ToString());
  REQUIRE(failed.status().code() == absl::StatusCode::kUnavailable);

  const absl::Time until = absl::Now() + absl::Seconds(60);
  while (!log->WritesHeld() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  REQUIRE(log->WritesHeld());
  REQUIRE(log->stats().recoveries == 1);
  // The tips are what Kafka holds (the mock keeps the failed group's records: it has no
  // transaction markers), and the chain continues from them.
  const std::vector<std::string> tips = log->ChainTips();
  log->ResumeWrites();
  auto after = AppendAndWait(*log, {Event(1, "after")});
  INFO(after.status().ToString());
  REQUIRE(after.ok());
  auto events = log->Read(PartitionId(1), Offset(0), 10);
  REQUIRE(events.ok());
  REQUIRE(events->back().event_id() == "after");
  REQUIRE(VerifyLink(events->back(), tips[1], events->back().sequence()).ok());
}

// Fencing (PRODUCER_FENCED from the coordinator): another writer owns the transactional.id.
// Writes stop for good, with FAILED_PRECONDITION; no new producer is made (it would fence the
// newer writer in turn).
TEST_CASE("kafka mock: fencing stops writes for good", "[kafka][mock]") {
  MockCluster cluster("mock5", 2);
  auto opened = KafkaLog::Open(MockOptions("mock5", cluster.bootstraps()));
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  std::unique_ptr<KafkaLog> log = std::move(*opened);
  REQUIRE(AppendAndWait(*log, {Event(1, "before")}).ok());

  rd_kafka_mock_push_request_errors(cluster.mock(), kEndTxnApiKey, 1,
                                    RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
  auto failed = AppendAndWait(*log, {Event(1, "fenced")});
  INFO(failed.status().ToString());
  REQUIRE(failed.status().code() == absl::StatusCode::kFailedPrecondition);
  auto later = AppendAndWait(*log, {Event(1, "later")});
  REQUIRE(later.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE_FALSE(log->WritesHeld());
  REQUIRE(log->stats().recoveries == 0);
}

}  // namespace
}  // namespace perfledger
