// Test shorthand for log positions and ends written as raw numbers: tables of expected
// positions stay readable, and the conversion to the log's typed values happens here, once.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "ledger/types.h"

namespace perfledger {

// The position (partition, offset).
inline LogPosition PositionAt(uint32_t partition, uint64_t offset) {
  return {PartitionId(partition), Offset(offset)};
}

// Ends listed by partition: EndsOf({1, 2, 0}) has partition 0 end at 1, 1 at 2, 2 at 0.
inline LogEnds EndsOf(const std::vector<uint64_t>& ends) {
  LogEnds out(static_cast<uint32_t>(ends.size()));
  for (PartitionId p : out.partitions()) out[p] = Offset(ends[p.value()]);
  return out;
}
inline LogEnds EndsOf(std::initializer_list<uint64_t> ends) {
  return EndsOf(std::vector<uint64_t>(ends));
}

}  // namespace perfledger
