// Small value types shared by the log and its consumers.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "ledger/ids.h"
#include "perfledger/v1/envelope.pb.h"

namespace perfledger {

// Partition 0 is the single-partition control stream; 1..N hold data keyed by subject.
inline constexpr PartitionId kControlPartition{0};

// A place in the log. Offsets grow strictly within a partition but may have gaps (Kafka).
struct LogPosition {
  PartitionId partition;
  Offset offset;
  auto operator<=>(const LogPosition&) const = default;
};

// The position an envelope or a request names, as the log's types.
inline LogPosition PositionOf(const v1::Position& p) {
  return {PartitionId(p.partition()), Offset(p.offset())};
}

// The end of every partition: ends[p] is the next offset to be written in partition p. A reader
// that has consumed up to ends[p] (exclusive) in every partition is caught up. Indexed by
// PartitionId only, so an offset or a loop counter cannot pick the partition.
class LogEnds {
 public:
  LogEnds() = default;
  // `partitions` partitions, each ending at `end`.
  explicit LogEnds(uint32_t partitions, Offset end = Offset(0)) : ends_(partitions, end) {}

  uint32_t size() const { return static_cast<uint32_t>(ends_.size()); }
  bool empty() const { return ends_.empty(); }
  bool contains(PartitionId p) const { return p.value() < ends_.size(); }
  // Each partition, for range-for: `for (PartitionId p : ends.partitions())`.
  PartitionRange partitions() const { return AllPartitions(size()); }

  Offset& operator[](PartitionId p) { return ends_[p.value()]; }
  const Offset& operator[](PartitionId p) const { return ends_[p.value()]; }

  friend bool operator==(const LogEnds&, const LogEnds&) = default;

 private:
  std::vector<Offset> ends_;
};

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
