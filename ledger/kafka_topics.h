// Topic administration of the Kafka event log (kafka_log.h, "Layout"): creates the log's two
// topics when missing and checks existing ones (partition counts, configs that would compact or
// expire records). Internal to ledger/.
//
// Thread safety: the functions keep no state; they use `admin` for metadata and admin requests
// only (no consumer is started on it). Open calls them before the log serves anyone.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/kafka_client.h"
#include "ledger/kafka_options.h"

namespace perfledger {

// Creates the control and the events topic where missing (with the log's settings) and waits
// until both have a leader for every partition; returns the events topic's partition count (the
// log's data partitions). FAILED_PRECONDITION when the control topic has other than 1 partition
// or the events topic other than options.data_partitions (unless 0), or more than
// limits::kDataPartitionsMax; UNAVAILABLE when they are not ready by `deadline`.
absl::StatusOr<uint32_t> EnsureKafkaTopics(KafkaClient& admin, const KafkaLogOptions& options,
                                           const KafkaTopicNames& names, absl::Time deadline);

// Checks that neither topic compacts or expires records (DescribeConfigs): FAILED_PRECONDITION
// otherwise. Without DescribeConfigs (librdkafka's mock cluster) it warns and passes.
absl::Status CheckKafkaTopicConfigs(KafkaClient& admin, const KafkaTopicNames& names,
                                    absl::Time deadline);

}  // namespace perfledger
