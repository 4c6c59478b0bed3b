// The write side of the Kafka event log (kafka_log.h, "Writing" and "Failure handling"): the
// transactional producer as group_commit.h's Sink. Internal to ledger/.
//
// Thread safety: Start runs before the GroupCommit that uses this Sink exists. Then Encode runs
// on appending threads under the GroupCommit's lock and touches no state of the writer; Write,
// Recover and Idle run on the committer thread only, which alone uses the producer and the
// delivery slots (delivery reports are served on it, inside poll, flush and commit).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/group_commit.h"
#include "ledger/kafka_client.h"
#include "ledger/kafka_options.h"

namespace perfledger {

// GroupCommit::Sink. An event is its envelope without the position (Kafka assigns the offset);
// a group is one transaction (CommitGroup), whose failure Write classifies (kafka_log.h,
// "Failure handling"); Recover is one attempt at a new producer and the tails from Kafka (the
// committer retries it until it works or the log closes, then holds writes until
// ResumeWrites); Idle serves the producer's queue.
class KafkaWriter final : public GroupCommit::Sink {
 public:
  // `partitions`: log partitions (data partitions + 1), whose tails Recover re-reads. The
  // transactional.id is options.transactional_id, or "<prefix>-writer" when empty.
  KafkaWriter(const KafkaLogOptions& options, KafkaTopicNames names, uint32_t partitions);
  // Frees the producer; its destruction may still deliver reports of purged records (ignored
  // by tag).
  ~KafkaWriter() override;
  KafkaWriter(const KafkaWriter&) = delete;
  KafkaWriter& operator=(const KafkaWriter&) = delete;

  // Creates the transactional producer and initializes its transactions, fencing any older
  // writer with the same transactional.id and completing or aborting its open transaction.
  absl::Status Start(absl::Time deadline);

  absl::StatusOr<std::string> Encode(v1::Envelope& sealed) override;
  absl::Status Write(std::vector<SealedAppend>& group, GroupFailure& failure) override;
  absl::StatusOr<std::vector<DurableTail>> Recover() override;
  void Idle() override;

 private:
  struct Delivery {
    int64_t offset = -1;
    int err = -1;  // rd_kafka_resp_err_t; -1 = no report yet
  };

  // Writes `group` as one transaction; fills the positions. On error sets *in_doubt when the
  // commit's outcome is unknown.
  absl::Status CommitGroup(std::vector<SealedAppend>& group, bool* in_doubt);
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);

  const KafkaLogOptions options_;
  const KafkaTopicNames names_;
  const uint32_t partitions_;
  const std::string transactional_id_;

  // The producer. Committer-thread only: producer_ calls, deliveries_.
  std::unique_ptr<KafkaClient> producer_;
  uint64_t group_generation_ = 0;
  std::vector<Delivery> deliveries_;
  size_t delivered_ = 0;
};

}  // namespace perfledger
