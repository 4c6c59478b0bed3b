// Small value types shared by the log and its consumers.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "perfledger/v1/envelope.pb.h"

namespace perfledger {

// Partition 0 is the single-partition control stream; 1..N hold data keyed by subject.
inline constexpr uint32_t kControlPartition = 0;

// A place in the log. Offsets grow strictly within a partition but may have gaps (Kafka).
struct LogPosition {
  uint32_t partition = 0;
  uint64_t offset = 0;
  auto operator<=>(const LogPosition&) const = default;
};

// The end of every partition: ends[p] is the next offset to be written in partition p.
// A reader that has consumed up to ends[p] (exclusive) in every partition is caught up.
using LogEnds = std::vector<uint64_t>;

// An event as read back from the log: its envelope (position filled) and nothing else;
// the payload stays serialized inside the envelope until a consumer needs it.
using StoredEvent = v1::Envelope;

// What the log holds under a client-supplied event id, compared with an event about to be
// recorded under it: nothing, the same content (a re-send), other content, or an append still
// in flight (its content is not known yet).
enum class Prior { kNone, kSame, kDifferent, kInFlight };

// A protobuf Timestamp as an absl::Time (exact).
inline absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// A protobuf Timestamp at microsecond precision (the precision the ledger records).
inline google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  const int64_t micros = absl::ToUnixMicros(t);
  google::protobuf::Timestamp ts;
  ts.set_seconds(micros / 1'000'000);
  ts.set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
  return ts;
}

}  // namespace perfledger
