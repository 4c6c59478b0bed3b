// The raw Kafka baseline: what the cluster and librdkafka do with no server in between.
//
// Threads (as many as the server test has clients) each send one write of `keys_per_batch`
// records of `value_bytes` to a fresh topic and wait for its delivery reports, closed loop,
// with perfledgerd's durability settings: an idempotent producer, acks=all, the cluster's
// default replication factor and min ISR. Two modes:
//   produce      one shared producer (perfledgerd shares its one); a write is done when every
//                record is acknowledged by the in-sync replicas;
//   transaction  one transactional producer per thread; a write is begin, produce, wait for
//                the reports, commit: the floor of a write that, as perfledgerd's group commit,
//                becomes visible atomically.
// The topic is deleted afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/perfbench/baseline.h"

namespace perfbench {

enum class KafkaBaselineMode { kProduce, kTransaction };
const char* KafkaBaselineModeName(KafkaBaselineMode mode);

struct KafkaBaselineOptions {
  std::string brokers;  // bootstrap.servers
  KafkaBaselineMode mode = KafkaBaselineMode::kProduce;
  uint32_t partitions = 8;
  uint32_t linger_ms = 0;
  // More producer properties, applied last (e.g. retry.backoff.ms).
  std::vector<std::pair<std::string, std::string>> properties;
};

// Runs the baseline. BaselineResult::db_path holds the topic's name. INTERNAL with librdkafka's
// message when the topic cannot be created or a write fails.
absl::StatusOr<BaselineResult> RunKafkaBaseline(const BaselineOptions& options,
                                                const KafkaBaselineOptions& kafka);

}  // namespace perfbench
