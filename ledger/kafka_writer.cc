#include "ledger/kafka_writer.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/kafka_reader.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"

// Partitioning: the log never lets librdkafka choose a partition. The caller computes it with
// ledger/partitioner.h (Java-compatible murmur2, what librdkafka calls `murmur2_random`), so
// producing to explicit partitions here places keys exactly as a Java producer would; no
// `partitioner` property is needed.

namespace perfledger {

static_assert(limits::kEventBytesMax * 4 <= limits::kKafkaRecordBytesMax,
              "an event plus its envelope fits one Kafka record");
static_assert(limits::kKafkaRecordBytesMax * 2 <= limits::kKafkaTopicMessageBytesMax,
              "a record fits a record batch with room to spare");

namespace {

// Delivery-report tags: the group generation in the high bits, the record's index in the
// group in the low bits. A report of an earlier (failed, purged) group is recognised and
// dropped instead of writing into the current group's slots.
constexpr int kTagIndexBits = 24;
static_assert(limits::kGroupCommitEventsMax < (size_t{1} << kTagIndexBits));

// Whether a fatal producer error means that another writer owns the transactional.id (or
// that this one may not use it). Only then is reopening wrong: a new producer would fence the
// newer writer in turn. Every other fatal error (a sequence desynchronised by a leader change,
// OUT_OF_ORDER_SEQUENCE_NUMBER, an unexpected coordinator answer) ends this producer instance
// only: a new producer with the same transactional.id continues the log.
bool MeansAnotherWriter(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return true;
    default:
      return false;
  }
}

}  // namespace

KafkaWriter::KafkaWriter(const KafkaLogOptions& options, KafkaTopicNames names,
                         uint32_t partitions)
    : options_(options),
      names_(std::move(names)),
      partitions_(partitions),
      transactional_id_(options.transactional_id.empty()
                            ? absl::StrCat(options.topic_prefix, "-writer")
                            : options.transactional_id) {}

KafkaWriter::~KafkaWriter() {
  // Before the delivery slots: the producer's destruction may still call OnDelivery.
  producer_.reset();
}

absl::Status KafkaWriter::Start(absl::Time deadline) {
  const int64_t txn_ms = absl::ToInt64Milliseconds(options_.append_timeout);
  ASSIGN_OR_RETURN(
      rd_kafka_conf_t * conf,
      NewConf(options_,
              {
                  {"client.id", "perfledger-writer"},
                  {"transactional.id", transactional_id_},
                  {"enable.idempotence", "true"},
                  {"acks", "all"},
                  {"linger.ms", absl::StrCat(absl::ToInt64Milliseconds(options_.linger))},
                  // A group commit ends within append_timeout, or is given up and its
                  // producer replaced. The coordinator's timeout is longer: a transaction it
                  // aborts on its own bumps the epoch, which this producer would see as
                  // fencing. Deliveries time out within the group's bound.
                  {"transaction.timeout.ms",
                   absl::StrCat(txn_ms * limits::kKafkaTransactionTimeoutFactor)},
                  {"message.timeout.ms", absl::StrCat(txn_ms * 8 / 10)},
                  {"message.max.bytes", absl::StrCat(limits::kKafkaTopicMessageBytesMax)},
              }));
  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaWriter::OnDelivery);
  rd_kafka_conf_set_opaque(conf, this);
  char errstr[512];
  producer_ = std::make_unique<KafkaClient>();
  producer_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (producer_->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", errstr));
  }
  for (int i = 0; i < 2; i++) {
    producer_->topics[i] = rd_kafka_topic_new(producer_->rk, names_.name(i).c_str(), nullptr);
    if (producer_->topics[i] == nullptr) {
      return FromKafka(rd_kafka_last_error(), absl::StrCat("topic handle ", names_.name(i)));
    }
  }
  // Retriable failures (coordinator loading, a previous transaction still completing) are
  // retried until the open deadline; the call resumes where it stopped.
  for (;;) {
    rd_kafka_error_t* error = rd_kafka_init_transactions(producer_->rk, RemainingMs(deadline));
    if (error == nullptr) return absl::OkStatus();
    const bool retry = rd_kafka_error_is_retriable(error) && absl::Now() < deadline;
    absl::Status s = FromKafkaError(error, absl::StrCat("init transactions for transactional.id ",
                                                        transactional_id_));
    if (!retry) return s;
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::StatusOr<std::string> KafkaWriter::Encode(v1::Envelope& sealed) {
  // Kafka assigns the offset; the stored value carries no position. The envelope keeps its
  // partition for the caller.
  const uint32_t p = sealed.position().partition();
  sealed.clear_position();
  std::string value = sealed.SerializeAsString();
  sealed.mutable_position()->set_partition(p);
  const size_t record_bytes = value.size() + sealed.partition_key().size() +
                              sealed.type().size() + sealed.event_id().size() +
                              64;  // + header names and framing
  if (record_bytes > limits::kKafkaRecordBytesMax) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("event %s: %d bytes as a Kafka record, at most %d", sealed.event_id(),
                        record_bytes, limits::kKafkaRecordBytesMax));
  }
  return value;
}

void KafkaWriter::OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque) {
  // Runs on the thread that serves the producer (the committer, inside poll/flush/commit).
  auto* writer = static_cast<KafkaWriter*>(opaque);
  const auto tag = reinterpret_cast<uintptr_t>(message->_private);
  const uint64_t generation = tag >> kTagIndexBits;
  const size_t index = tag & ((uintptr_t{1} << kTagIndexBits) - 1);
  if (generation != (writer->group_generation_ & ((uint64_t{1} << (64 - kTagIndexBits)) - 1)) ||
      index >= writer->deliveries_.size()) {
    return;  // a purged record of an earlier, failed group
  }
  Delivery& d = writer->deliveries_[index];
  if (d.err == -1) writer->delivered_++;
  d.err = message->err;
  d.offset = message->offset;
}

absl::Status KafkaWriter::CommitGroup(std::vector<SealedAppend>& group, bool* in_doubt) {
  *in_doubt = false;
  rd_kafka_t* rk = producer_->rk;
  const absl::Time deadline = absl::Now() + options_.append_timeout;
  size_t n = 0;
  for (const SealedAppend& a : group) n += a.values.size();
  group_generation_++;
  deliveries_.assign(n, Delivery{});
  delivered_ = 0;

  RETURN_IF_ERROR(FromKafkaError(rd_kafka_begin_transaction(rk), "begin transaction"));
  const uint64_t generation = group_generation_ & ((uint64_t{1} << (64 - kTagIndexBits)) - 1);
  size_t index = 0;
  for (SealedAppend& a : group) {
    for (size_t i = 0; i < a.values.size(); i++) {
      const v1::Envelope& e = (*a.events)[i];
      const std::string& value = a.values[i];
      const std::string& key = e.partition_key();
      const uint32_t partition = a.positions[i].partition.value();
      const std::string schema = absl::StrCat(e.schema_version());
      const auto tag = static_cast<uintptr_t>((generation << kTagIndexBits) | index);
      rd_kafka_resp_err_t err;
      for (;;) {
        err = rd_kafka_producev(
            rk, RD_KAFKA_V_RKT(producer_->topics[TopicIndex(partition)]),
            RD_KAFKA_V_PARTITION(KafkaPartition(partition)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
            RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
            RD_KAFKA_V_HEADER(kHeaderType, e.type().data(), static_cast<ssize_t>(e.type().size())),
            RD_KAFKA_V_HEADER(kHeaderSchema, schema.data(), static_cast<ssize_t>(schema.size())),
            RD_KAFKA_V_HEADER(kHeaderEventId, e.event_id().data(),
                              static_cast<ssize_t>(e.event_id().size())),
            RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(tag)), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || absl::Now() >= deadline) break;
        rd_kafka_poll(rk, 5);  // let deliveries drain the local queue
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Not committed: the caller aborts the transaction.
        return FromKafka(err, absl::StrFormat("produce to log partition %d", partition));
      }
      index++;
    }
  }

  // Commit flushes first (serving our delivery reports on this thread) and sends EndTxn only
  // once every record is acknowledged. The deadline is ours, not "the remaining transaction
  // time": a timed-out log is refused writes anyway, so librdkafka's state after it is moot.
  rd_kafka_error_t* error = rd_kafka_commit_transaction(rk, RemainingMs(deadline));
  while (error != nullptr && rd_kafka_error_is_retriable(error) &&
         !rd_kafka_error_is_fatal(error) && absl::Now() < deadline) {
    rd_kafka_error_destroy(error);
    absl::SleepFor(absl::Milliseconds(10));
    error = rd_kafka_commit_transaction(rk, RemainingMs(deadline));
  }
  if (error != nullptr) {
    rd_kafka_poll(rk, 0);  // serve any delivery report not yet seen
    bool all_delivered = delivered_ == n;
    for (const Delivery& d : deliveries_) all_delivered &= d.err == RD_KAFKA_RESP_ERR_NO_ERROR;
    const bool abortable = rd_kafka_error_txn_requires_abort(error);
    absl::Status s = FromKafkaError(error, "commit transaction");
    // EndTxn is sent only after every record was acknowledged. So when some were not, or the
    // coordinator asked for an abort, the transaction is certainly not committed. Otherwise
    // the commit request may have reached the coordinator: the outcome is unknown.
    *in_doubt = all_delivered && !abortable;
    return s;
  }
  // Committed. Every report was served by the flush inside commit; poll for stragglers.
  while (delivered_ < n && absl::Now() < deadline + absl::Seconds(1)) rd_kafka_poll(rk, 10);
  index = 0;
  for (SealedAppend& a : group) {
    for (LogPosition& pos : a.positions) {
      const Delivery& d = deliveries_[index++];
      if (d.err != RD_KAFKA_RESP_ERR_NO_ERROR || d.offset < 0) {
        *in_doubt = true;  // committed, but we cannot name the offsets
        return absl::InternalError(absl::StrFormat(
            "transaction committed but the delivery report of record %d says %s", index - 1,
            d.err == -1 ? "nothing" : rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(d.err))));
      }
      pos.offset = Offset(static_cast<uint64_t>(d.offset));
    }
  }
  return absl::OkStatus();
}

absl::Status KafkaWriter::Write(std::vector<SealedAppend>& group, GroupFailure& failure) {
  bool in_doubt = false;
  absl::Status status = CommitGroup(group, &in_doubt);
  if (status.ok()) return status;
  // A fenced producer is FAILED_PRECONDITION: this instance can never write again, and
  // reopening would fence the newer writer. Any other fatal error ends this producer only:
  // Recover replaces it.
  char reason[512] = {0};
  const rd_kafka_resp_err_t fatal_err = rd_kafka_fatal_error(producer_->rk, reason, sizeof(reason));
  const bool fenced = MeansAnotherWriter(fatal_err);
  if (fenced) {
    absl::Status cause = FromKafka(fatal_err, "the producer failed fatally", reason);
    status = cause.code() == absl::StatusCode::kFailedPrecondition
                 ? cause
                 : absl::FailedPreconditionError(cause.message());
  } else if (fatal_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = absl::UnavailableError(
        absl::StrCat(FromKafka(fatal_err, "the producer failed fatally", reason).message(),
                     " (a new producer takes over)"));
  }
  // Fenced first: whatever became of the group, this writer cannot write again, and a retry
  // belongs with the writer that fenced it.
  if (fenced) {
    failure.group = absl::FailedPreconditionError(
        absl::StrCat(in_doubt ? "append outcome unknown, and this writer is fenced: "
                              : "append failed, nothing was written: ",
                     status.message()));
    failure.queued = absl::FailedPreconditionError(
        absl::StrCat("append refused: an earlier append failed: ", status.message()));
    failure.refusal = absl::FailedPreconditionError(status.message());
  } else {
    failure.group = absl::UnavailableError(
        in_doubt ? absl::StrCat("append outcome unknown (the commit did not finish within "
                                "append_timeout; the events may be in the log, reopen the log "
                                "and read it to know): ",
                                status.message())
                 : absl::StrCat("append failed, nothing was written: ", status.message()));
    failure.queued = absl::UnavailableError(
        absl::StrCat("append refused: an earlier append failed: ", status.message()));
    failure.refusal = failure.group;
    failure.recoverable = true;
  }
  return status;
}

absl::StatusOr<std::vector<DurableTail>> KafkaWriter::Recover() {
  // One attempt is bounded by append_timeout so that Close (the destructor joins the
  // committer) waits at most that long while the broker is away.
  const absl::Time deadline = absl::Now() + options_.append_timeout;
  if (producer_ != nullptr) {
    // Nothing of the failed group may still go out; the old producer's open transaction is
    // completed or aborted by the new producer's init_transactions (same transactional.id).
    rd_kafka_purge(producer_->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    producer_.reset();
  }
  RETURN_IF_ERROR(Start(deadline));
  // The tips after init_transactions are final: re-read them, since a group whose outcome was
  // unknown may have committed. A consumer of its own: lane 0 may be serving readers.
  ASSIGN_OR_RETURN(std::unique_ptr<KafkaClient> scanner,
                   NewKafkaConsumer(options_, names_, "recover", 50));
  std::vector<DurableTail> tails;
  for (uint32_t p = 0; p < partitions_; p++) {
    ASSIGN_OR_RETURN(DurableTail tail, ScanKafkaTail(*scanner, p, deadline));
    tails.push_back(std::move(tail));
  }
  return tails;
}

void KafkaWriter::Idle() {
  // Serve the producer's queue now and then: errors, late reports.
  if (producer_ != nullptr) rd_kafka_poll(producer_->rk, 0);
}

}  // namespace perfledger
