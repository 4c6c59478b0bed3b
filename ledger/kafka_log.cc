#include "ledger/kafka_log.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/kafka_client.h"
#include "ledger/kafka_reader.h"
#include "ledger/kafka_topics.h"
#include "ledger/kafka_writer.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/status_macros.h"

namespace perfledger {

// ---------------------------------------------------------------------------------------------
// Open

KafkaLog::KafkaLog(const KafkaLogOptions& options) : options_(options), role_(options.role) {
  const KafkaTopicNames names = KafkaTopicNames::ForPrefix(options.topic_prefix);
  control_topic_ = names.control;
  events_topic_ = names.events;
}

absl::StatusOr<std::unique_ptr<KafkaLog>> KafkaLog::Open(const KafkaLogOptions& options) {
  if (options.brokers.empty()) return absl::InvalidArgumentError("brokers: required");
  if (!ValidTopicPrefix(options.topic_prefix)) {
    return absl::InvalidArgumentError(
        "topic_prefix: 1..200 characters of [A-Za-z0-9._-] (Kafka topic names)");
  }
  if (options.data_partitions > limits::kDataPartitionsMax) {
    return absl::InvalidArgumentError(
        absl::StrFormat("data_partitions: at most %d", limits::kDataPartitionsMax));
  }
  if (options.replication_factor < 0 || options.replication_factor > 16) {
    return absl::InvalidArgumentError(
        "replication_factor: 0 (as many as the brokers, up to 3) or 1..16");
  }
  // transaction.timeout.ms (limits::kKafkaTransactionTimeoutFactor x append_timeout) must stay
  // within the broker's transaction.max.timeout.ms (15 min by default); 2 s leaves
  // message.timeout.ms (80 %) room for one retry of a produce request.
  const absl::Duration append_max = absl::Milliseconds(limits::kKafkaTransactionTimeoutMaxMs) /
                                    limits::kKafkaTransactionTimeoutFactor;
  if (options.append_timeout < absl::Seconds(2) || options.append_timeout > append_max) {
    return absl::InvalidArgumentError(
        absl::StrCat("append_timeout: 2 s..", absl::FormatDuration(append_max)));
  }
  if (options.replica_poll_interval < absl::Milliseconds(1) ||
      options.replica_poll_interval > absl::Milliseconds(50)) {
    return absl::InvalidArgumentError("replica_poll_interval: 1..50 ms");
  }
  if (options.open_timeout <= absl::ZeroDuration() ||
      options.read_timeout <= absl::ZeroDuration() || options.linger < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeouts: must be positive");
  }
  auto log = std::unique_ptr<KafkaLog>(new KafkaLog(options));
  RETURN_IF_ERROR(log->Start());
  return log;
}

absl::Status KafkaLog::Start() {
  const absl::Time deadline = absl::Now() + options_.open_timeout;
  const KafkaTopicNames names{control_topic_, events_topic_};
  // Lane 0 serves Open (metadata, admin, tail scans) and then reads.
  ASSIGN_OR_RETURN(std::unique_ptr<KafkaClient> lane0_client,
                   NewKafkaConsumer(options_, names, "reader-0", 50));
  KafkaClient& lane0 = *lane0_client;
  ASSIGN_OR_RETURN(data_partitions_, EnsureKafkaTopics(lane0, options_, names, deadline));
  if (options_.verify_topic_configs) {
    // On a cluster a topic created a moment ago may still be unknown to the broker that
    // answers DescribeConfigs (metadata reaches the brokers one by one): retried until the
    // open deadline.
    for (;;) {
      absl::Status s = CheckKafkaTopicConfigs(lane0, names, deadline);
      if (s.ok()) break;
      const bool transient = s.code() == absl::StatusCode::kNotFound ||
                             s.code() == absl::StatusCode::kUnavailable;
      if (!transient || absl::Now() >= deadline) return s;
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  // The reader owns lane 0 from here on; Open still scans the tails with it below.
  const uint32_t partitions = data_partitions_ + 1;
  reader_ = std::make_unique<KafkaReader>(options_, names, partitions, std::move(lane0_client));

  // The writer fences older writers first: init_transactions completes or aborts their open
  // transaction, so the tails read next are final.
  if (role_ == KafkaRole::kWriter) {
    writer_ = std::make_unique<KafkaWriter>(options_, names, partitions);
    RETURN_IF_ERROR(writer_->Start(deadline));
  }

  std::vector<DurableTail> tails;
  for (uint32_t p = 0; p < partitions; p++) {
    ASSIGN_OR_RETURN(DurableTail tail, ScanKafkaTail(lane0, p, deadline));
    tails.push_back(std::move(tail));
  }

  // The writer's committer starts here; a replica only keeps the durable ends its follower
  // sees.
  GroupCommit::Options writer;
  writer.offsets = OffsetSource::kWrite;
  writer.linger = options_.linger;
  writer.thread_name = "pl-kcommit";
  writer.log_name = "kafka log";
  GroupCommit::Sink* sink = writer_.get();  // null on a replica
  durable_ = std::make_unique<GroupCommit>(std::move(writer), std::move(tails), sink);
  if (role_ == KafkaRole::kReadReplica) {
    follower_ = std::make_unique<KafkaFollower>(options_, names, partitions, durable_.get());
    RETURN_IF_ERROR(follower_->Start());
  }
  LogInfo(absl::StrFormat("kafka log open: %s, topics %s/%s, %d data partitions, role %s",
                          options_.brokers, control_topic_, events_topic_, data_partitions_,
                          role_ == KafkaRole::kWriter ? "writer" : "read-replica"));
  return absl::OkStatus();
}

KafkaLog::~KafkaLog() {
  // The follower first (it advances durable_), then the committer (queued appends complete,
  // with the producer still there).
  if (follower_ != nullptr) follower_->Stop();
  durable_.reset();
  follower_.reset();
  reader_.reset();
  // Last: its destruction may still deliver reports of purged records (ignored by tag).
  writer_.reset();
}

// ---------------------------------------------------------------------------------------------
// Writing

void KafkaLog::Append(AppendBatch batch, AppendDone done) {
  if (role_ != KafkaRole::kWriter) {
    done(absl::FailedPreconditionError(
        "this kafka log is a read replica: appends go to the writer"));
    return;
  }
  durable_->Append(std::move(batch), std::move(done));
}

bool KafkaLog::WritesHeld() { return durable_->WritesHeld(); }

void KafkaLog::ResumeWrites() { durable_->ResumeWrites(); }

// ---------------------------------------------------------------------------------------------
// Reading

absl::StatusOr<std::vector<StoredEvent>> KafkaLog::Read(PartitionId partition_id, Offset from,
                                                        size_t max_events) {
  // The cursors and librdkafka work in raw partition numbers and offsets.
  RETURN_IF_ERROR(CheckReadPartition(partition_id, data_partitions_ + 1));
  const uint64_t end = durable_->Ends()[partition_id].value();
  return reader_->Read(partition_id.value(), from.value(), end, max_events);
}

LogEnds KafkaLog::Ends() { return durable_->Ends(); }

LogEnds KafkaLog::WaitForAppend(const LogEnds& seen, absl::Time deadline) {
  // The writer's committer and the replica's follower both move durable_.
  return durable_->WaitForAppend(seen, deadline);
}

std::vector<std::string> KafkaLog::ChainTips() {
  // The writer records the hash of each committed event; the replica's follower that of each
  // event it sees. Either way: the tips of Ends().
  return durable_->Tips();
}

void KafkaLog::Close() { durable_->Close(); }

LogSummary KafkaLog::Summary() { return durable_->Summary(); }

KafkaLogStats KafkaLog::stats() {
  KafkaLogStats s;
  const GroupCommitStats w = durable_->stats();
  s.appends = w.appends;
  s.transactions = w.group_commits;
  s.events = w.events;
  s.recoveries = w.recoveries;
  const KafkaReader::Stats r = reader_->stats();
  s.cursor_hits = r.cursor_hits;
  s.cursor_seeks = r.cursor_seeks;
  return s;
}

}  // namespace perfledger
