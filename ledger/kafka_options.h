// The Kafka event log's options and statistics (kafka_log.h), in a header of their own so that
// the log's units (kafka_client.h, kafka_topics.h, kafka_reader.h, kafka_writer.h) see them
// without the log itself. kafka_log.h includes it.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "ledger/limits.h"

namespace perfledger {

enum class KafkaRole {
  kWriter,       // owns the log: appends, fences any older writer with the same transactional_id
  kReadReplica,  // reads and follows; never produces
};

struct KafkaLogOptions {
  // bootstrap.servers, e.g. "127.0.0.1:19092". Required.
  std::string brokers;
  // Topics are "<prefix>.control" and "<prefix>.events". [A-Za-z0-9._-], at most 200 bytes.
  std::string topic_prefix = "perfledger";
  // Data partitions (the events topic's partition count). A new log is created with it; an
  // existing log must have exactly this many (FAILED_PRECONDITION otherwise). 0 = whatever the
  // existing log has, or limits::kDataPartitionsDefault for a new one.
  uint32_t data_partitions = limits::kDataPartitionsDefault;
  // Replication factor of topics this log creates (existing topics keep theirs); from 3 on,
  // min.insync.replicas is 2. 0 = one replica per broker of the cluster, at most 3.
  int replication_factor = 0;
  KafkaRole role = KafkaRole::kWriter;
  // The writer's transactional.id; empty = "<prefix>-writer". One writer per id at a time.
  std::string transactional_id;

  // Open as a whole: metadata, topic creation, init_transactions, recovery of the tips.
  absl::Duration open_timeout = absl::Seconds(30);
  // Bound on one group commit (begin, produce, commit) and on one recovery attempt;
  // message.timeout.ms is 80 % of it, transaction.timeout.ms limits::
  // kKafkaTransactionTimeoutFactor times it. 2 s..5 min.
  absl::Duration append_timeout = absl::Seconds(10);
  // How long Read waits for events that are known committed (Ends() says so) to arrive from
  // the broker before it fails with UNAVAILABLE.
  absl::Duration read_timeout = absl::Seconds(10);
  // Replica: the follower's fetch long-poll (fetch.wait.max.ms). 1..50 ms.
  absl::Duration replica_poll_interval = absl::Milliseconds(20);
  // Producer linger.ms, and how long the committer waits to gather a group as large as the
  // previous one before it starts a transaction.
  absl::Duration linger = absl::Milliseconds(2);
  // Check that existing topics neither compact nor expire records (DescribeConfigs). Only
  // librdkafka's mock cluster, which cannot describe configs, needs this off.
  bool verify_topic_configs = true;
  // Extra librdkafka properties for every client this log creates (security.protocol, debug,
  // test.mock.*, ...). Applied last, so they override the log's own settings: use with care.
  std::vector<std::pair<std::string, std::string>> librdkafka_config;
};

struct KafkaLogStats {
  uint64_t appends = 0;         // accepted appends
  uint64_t transactions = 0;    // committed group transactions
  uint64_t events = 0;          // committed events
  uint64_t cursor_hits = 0;     // reads continued on a positioned cursor
  uint64_t cursor_seeks = 0;    // reads that had to (re)position a cursor
  uint64_t recoveries = 0;      // failed writes recovered from (new producer, tips re-read)
};

}  // namespace perfledger
