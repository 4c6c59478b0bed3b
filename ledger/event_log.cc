#include "ledger/event_log.h"

#include "absl/strings/str_format.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"

namespace perfledger {

absl::Status CheckAppendBatch(const std::vector<v1::Envelope>& events, uint32_t partitions) {
  if (events.size() > limits::kBatchEventsMax) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "batch: %d events, at most %d in one append", events.size(), limits::kBatchEventsMax));
  }
  for (const auto& e : events) {
    if (e.position().partition() >= partitions) {
      return absl::InvalidArgumentError(
          absl::StrFormat("position.partition: %d is not a partition of this log",
                          e.position().partition()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckReadPartition(PartitionId partition, uint32_t partitions) {
  if (partition.value() >= partitions) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "partition: %d is not a partition of this log (0..%d)", partition, partitions - 1));
  }
  return absl::OkStatus();
}

absl::Status EventLog::ReadOnArena(PartitionId partition, Offset from, size_t max_events,
                                   google::protobuf::Arena& arena, std::vector<StoredEvent*>& out,
                                   std::vector<std::string_view>& bytes) {
  ASSIGN_OR_RETURN(std::vector<StoredEvent> events, Read(partition, from, max_events));
  for (StoredEvent& e : events) {
    auto* owned = new StoredEvent(std::move(e));
    arena.Own(owned);
    out.push_back(owned);
    bytes.emplace_back();
  }
  return absl::OkStatus();
}

LogSummary EventLog::Summary() {
  const LogEnds ends = Ends();
  const std::vector<std::string> tips = ChainTips();
  LogSummary summary;
  for (PartitionId p : ends.partitions()) {
    summary.partitions.push_back(
        {ends[p], ends[p].value(), p.value() < tips.size() ? tips[p.value()] : std::string()});
  }
  return summary;
}

absl::Status DecodeRecorded(const StoredEvent& stored, v1::RecordedEvent* out) {
  *out->mutable_envelope() = stored;
  if (!out->mutable_event()->ParseFromString(stored.payload())) {
    return absl::DataLossError(absl::StrFormat("partition %d offset %d: payload does not parse",
                                               stored.position().partition(),
                                               stored.position().offset()));
  }
  return absl::OkStatus();
}

}  // namespace perfledger
