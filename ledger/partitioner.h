// Chooses a data partition for a key exactly as Kafka's Java client does (murmur2 of the key
// bytes, sign bit cleared, modulo the partition count), so the embedded log and a Kafka topic
// written by Java or by librdkafka with partitioner=murmur2_random place a key alike.
#pragma once

#include <cstdint>
#include <string_view>

#include "ledger/ids.h"

namespace perfledger {

// Kafka's murmur2 (seed 0x9747b28c).
int32_t Murmur2(std::string_view key);

// Data partition index 1..data_partitions for `key` (0 is the control partition).
PartitionId DataPartitionFor(std::string_view key, uint32_t data_partitions);

}  // namespace perfledger
