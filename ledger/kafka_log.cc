#include "ledger/kafka_log.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ledger/hash_chain.h"
#include "ledger/logging.h"
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

constexpr char kHeaderType[] = "pl-type";
constexpr char kHeaderSchema[] = "pl-schema";
constexpr char kHeaderEventId[] = "pl-event-id";

// The one place librdkafka errors become absl::Status. `what` names the operation; `detail`
// is librdkafka's own message when it has a better one than err2str.
absl::Status FromKafka(rd_kafka_resp_err_t err, std::string_view what,
                       std::string_view detail = {}) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  const std::string msg =
      absl::StrCat(std::string(what), ": ", rd_kafka_err2name(err), ": ",
                   detail.empty() ? std::string(rd_kafka_err2str(err)) : std::string(detail));
  switch (err) {
    // Fencing: a newer writer owns the transactional.id. Retrying here cannot help, and
    // reopening would fence the newer writer in turn.
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
      return absl::FailedPreconditionError(
          absl::StrCat(msg, " (fenced: a newer writer with the same transactional.id took over)"));

    // The cluster is unreachable, busy or moving leadership: try again later.
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__WAIT_CACHE:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR__ISR_INSUFF:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR__UNKNOWN_BROKER:
    case RD_KAFKA_RESP_ERR__INTR:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REASSIGNMENT_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_INVALID_FETCH_SESSION_EPOCH:
    case RD_KAFKA_RESP_ERR_STALE_BROKER_EPOCH:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID:
    case RD_KAFKA_RESP_ERR_OPERATION_NOT_ATTEMPTED:
    // A coordinator that lost its role answered; the new one takes over.
    case RD_KAFKA_RESP_ERR_TRANSACTION_COORDINATOR_FENCED:
      return absl::UnavailableError(msg);

    // Too big for the broker or the client's queue.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE:
      return absl::ResourceExhaustedError(msg);

    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_RESOURCE_NOT_FOUND:
    case RD_KAFKA_RESP_ERR__NOENT:
      return absl::NotFoundError(msg);

    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
    case RD_KAFKA_RESP_ERR_DUPLICATE_RESOURCE:
      return absl::AlreadyExistsError(msg);

    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      return absl::OutOfRangeError(msg);

    // The bytes on the wire or on disk are not what was written.
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
      return absl::DataLossError(msg);

    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
    case RD_KAFKA_RESP_ERR_UNACCEPTABLE_CREDENTIAL:
      return absl::UnauthenticatedError(msg);

    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED:
      return absl::PermissionDeniedError(msg);

    // The cluster or the client cannot do what this log needs: configuration, versions, a
    // producer in the wrong state. Operators fix these; retries do not.
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__NOT_CONFIGURED:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
    case RD_KAFKA_RESP_ERR__INCONSISTENT:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE:
    case RD_KAFKA_RESP_ERR_INVALID_TXN_STATE:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING:
    case RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED:
    case RD_KAFKA_RESP_ERR_SECURITY_DISABLED:
    case RD_KAFKA_RESP_ERR_LISTENER_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_LOG_DIR_NOT_FOUND:
      return absl::FailedPreconditionError(msg);

    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
      return absl::InvalidArgumentError(msg);

    case RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER:
      // The idempotent producer treats a duplicate as delivered; reaching here is a bug.
      return absl::InternalError(msg);

    default:
      // Everything else (group-membership errors a group-less client never sees, new codes
      // from later brokers): retriable errors from librdkafka's transaction API are mapped by
      // the caller before this; the rest is not ours to interpret.
      return absl::InternalError(msg);
  }
}

// rd_kafka_error_t (the transactional API's error) → Status; destroys `error`. A fatal error
// is always FAILED_PRECONDITION: the producer instance is finished.
absl::Status FromKafkaError(rd_kafka_error_t* error, std::string_view what) {
  if (error == nullptr) return absl::OkStatus();
  const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  const std::string detail = rd_kafka_error_string(error);
  const bool fatal = rd_kafka_error_is_fatal(error);
  const bool retriable = rd_kafka_error_is_retriable(error);
  rd_kafka_error_destroy(error);
  absl::Status s = FromKafka(code, what, detail);
  if (fatal && s.code() != absl::StatusCode::kFailedPrecondition) {
    return absl::FailedPreconditionError(absl::StrCat("fatal producer error: ", s.message()));
  }
  if (retriable && !fatal) return absl::UnavailableError(s.message());
  return s;
}

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

int Ms(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, 1 << 30));
}

// Milliseconds left until `deadline`, at least 1 (librdkafka treats 0 as "don't wait" and
// -1 as "forever").
int RemainingMs(absl::Time deadline) {
  return std::max(1, Ms(deadline - absl::Now()));
}

void OnLog(const rd_kafka_t* rk, int level, const char* facility, const char* buf) {
  const std::string msg = absl::StrCat("kafka ", rd_kafka_name(rk), " ", facility, ": ", buf);
  if (level <= 3) {
    LogError(msg);
  } else if (level == 4) {
    LogWarning(msg);
  } else {
    LogInfo(msg);
  }
}

using Props = std::initializer_list<std::pair<const char*, std::string>>;

// A configuration with the log's base settings, `props`, then the caller's overrides.
absl::StatusOr<rd_kafka_conf_t*> NewConf(const KafkaLogOptions& options, Props props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  auto set = [&](const std::string& name, const std::string& value) -> absl::Status {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat("librdkafka property ", name, "=", value, ": ", errstr));
    }
    return absl::OkStatus();
  };
  absl::Status s = set("bootstrap.servers", options.brokers);
  // Warnings and errors only: librdkafka's info lines are per-connection chatter.
  if (s.ok()) s = set("log_level", "4");
  for (const auto& [name, value] : props) {
    if (s.ok()) s = set(name, value);
  }
  for (const auto& [name, value] : options.librdkafka_config) {
    if (s.ok()) s = set(name, value);
  }
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  rd_kafka_conf_set_log_cb(conf, OnLog);
  return conf;
}

bool ValidTopicPrefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > 200) return false;
  return std::all_of(prefix.begin(), prefix.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Clients and cursors

struct KafkaLog::Client {
  rd_kafka_t* rk = nullptr;
  rd_kafka_topic_t* topics[2] = {nullptr, nullptr};  // control, events

  Client() = default;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() {
    for (rd_kafka_topic_t* t : topics) {
      if (t != nullptr) rd_kafka_topic_destroy(t);
    }
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

// One reader position in one partition on one lane. The lane's legacy (group-less) consumer
// keeps fetching ahead from `position`, so the next sequential Read finds its events already
// queued locally.
struct KafkaLog::Cursor {
  Client* lane = nullptr;
  uint32_t partition = 0;
  bool started = false;
  bool busy = false;
  // The offset after the last event this cursor returned: where a sequential reader continues.
  uint64_t expect = 0;
  // The offset after the last record (or end-of-partition) the consumer delivered. No
  // committed event lies in [expect, position) except those in `stash`.
  uint64_t position = 0;
  // Events delivered by the consumer but beyond the end the last Read could return.
  std::deque<StoredEvent> stash;
  uint64_t last_used = 0;

  bool Fits(uint64_t from) const { return started && from >= expect && from <= position; }
};

absl::StatusOr<std::unique_ptr<KafkaLog::Client>> KafkaLog::NewConsumer(const char* purpose,
                                                                        int fetch_wait_ms) {
  ASSIGN_OR_RETURN(
      rd_kafka_conf_t * conf,
      NewConf(options_,
              {
                  {"client.id", absl::StrCat("perfledger-", purpose)},
                  // Only committed events; aborted records and markers are skipped.
                  {"isolation.level", "read_committed"},
                  // Readers need to know when they reached the (committed) end.
                  {"enable.partition.eof", "true"},
                  // Positions live with the views in RocksDB, never in Kafka.
                  {"enable.auto.commit", "false"},
                  {"enable.auto.offset.store", "false"},
                  // A read below the log start must fail, not silently jump.
                  {"auto.offset.reset", "error"},
                  {"fetch.wait.max.ms", absl::StrCat(fetch_wait_ms)},
                  {"fetch.error.backoff.ms", "50"},
                  {"queued.max.messages.kbytes", absl::StrCat(limits::kKafkaPrefetchKbytes)},
                  {"allow.auto.create.topics", "false"},
              }));
  char errstr[512];
  auto client = std::make_unique<Client>();
  client->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (client->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka consumer ", purpose, ": ", errstr));
  }
  const std::string* names[2] = {&control_topic_, &events_topic_};
  for (int i = 0; i < 2; i++) {
    rd_kafka_topic_conf_t* tconf = rd_kafka_topic_conf_new();
    // The legacy consumer's own offset store: off, like the global setting.
    rd_kafka_topic_conf_set(tconf, "auto.commit.enable", "false", errstr, sizeof(errstr));
    client->topics[i] = rd_kafka_topic_new(client->rk, names[i]->c_str(), tconf);
    if (client->topics[i] == nullptr) {
      return FromKafka(rd_kafka_last_error(), absl::StrCat("topic handle ", *names[i]));
    }
  }
  return client;
}

// ---------------------------------------------------------------------------------------------
// Open

KafkaLog::KafkaLog(const KafkaLogOptions& options) : options_(options), role_(options.role) {
  control_topic_ = absl::StrCat(options.topic_prefix, ".control");
  events_topic_ = absl::StrCat(options.topic_prefix, ".events");
  transactional_id_ = options.transactional_id.empty()
                          ? absl::StrCat(options.topic_prefix, "-writer")
                          : options.transactional_id;
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
    return absl::InvalidArgumentError("replication_factor: 0 (as many as the brokers, up to 3) or 1..16");
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
  // Lane 0 serves Open (metadata, admin, tail scans) and then reads.
  ASSIGN_OR_RETURN(std::unique_ptr<Client> lane0, NewConsumer("reader-0", 50));
  lanes_.push_back(std::move(lane0));
  RETURN_IF_ERROR(EnsureTopics(deadline));
  if (options_.verify_topic_configs) {
    // On a cluster a topic created a moment ago may still be unknown to the broker that
    // answers DescribeConfigs (metadata reaches the brokers one by one): retried until the
    // open deadline.
    for (;;) {
      absl::Status s = CheckTopicConfigs(deadline);
      if (s.ok()) break;
      const bool transient = s.code() == absl::StatusCode::kNotFound ||
                             s.code() == absl::StatusCode::kUnavailable;
      if (!transient || absl::Now() >= deadline) return s;
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  const uint32_t partitions = data_partitions_ + 1;
  for (uint32_t p = 0; p < partitions; p++) {
    auto c = std::make_unique<Cursor>();
    c->lane = lanes_[0].get();
    c->partition = p;
    cursors_.push_back(std::move(c));
  }

  // The writer fences older writers first: init_transactions completes or aborts their open
  // transaction, so the tails read next are final.
  if (role_ == KafkaRole::kWriter) RETURN_IF_ERROR(StartProducer(deadline));

  std::vector<DurableTail> tails;
  for (uint32_t p = 0; p < partitions; p++) {
    ASSIGN_OR_RETURN(Tail tail, ScanTail(*lanes_[0], p, deadline));
    tails.push_back({Offset(tail.end), tail.next_sequence, std::move(tail.tip)});
  }

  // The writer's committer starts here; a replica only keeps the durable ends its follower
  // sees.
  GroupCommit::Options writer;
  writer.offsets = OffsetSource::kWrite;
  writer.linger = options_.linger;
  writer.thread_name = "pl-kcommit";
  writer.log_name = "kafka log";
  GroupCommit::Sink* sink = role_ == KafkaRole::kWriter ? this : nullptr;
  durable_ = std::make_unique<GroupCommit>(std::move(writer), std::move(tails), sink);
  if (role_ == KafkaRole::kReadReplica) RETURN_IF_ERROR(StartFollower());
  LogInfo(absl::StrFormat("kafka log open: %s, topics %s/%s, %d data partitions, role %s",
                          options_.brokers, control_topic_, events_topic_, data_partitions_,
                          role_ == KafkaRole::kWriter ? "writer" : "read-replica"));
  return absl::OkStatus();
}

absl::Status KafkaLog::EnsureTopics(absl::Time deadline) {
  Client& lane = *lanes_[0];
  const std::string* names[2] = {&control_topic_, &events_topic_};
  bool create_tried = false;
  int brokers = 0;  // in the cluster's metadata
  absl::Status last = absl::UnavailableError("no metadata yet");
  for (;;) {
    int counts[2] = {-1, -1};  // -1 missing, 0 not ready (no leader yet)
    bool ok = true;
    for (int i = 0; i < 2 && ok; i++) {
      const rd_kafka_metadata_t* md = nullptr;
      rd_kafka_resp_err_t err =
          rd_kafka_metadata(lane.rk, 0, lane.topics[i], &md, RemainingMs(deadline));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        last = FromKafka(err, absl::StrCat("metadata of ", *names[i]));
        ok = false;
        break;
      }
      brokers = md->broker_cnt;
      const rd_kafka_metadata_topic_t* t = md->topic_cnt == 1 ? &md->topics[0] : nullptr;
      if (t == nullptr || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        counts[i] = -1;
      } else if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        counts[i] = 0;
        last = FromKafka(t->err, absl::StrCat("metadata of ", *names[i]));
      } else {
        counts[i] = t->partition_cnt;
        for (int j = 0; j < t->partition_cnt; j++) {
          if (t->partitions[j].leader < 0 || t->partitions[j].err != 0) counts[i] = 0;
        }
        if (counts[i] == 0) last = absl::UnavailableError(absl::StrCat(*names[i], ": no leader"));
      }
      rd_kafka_metadata_destroy(md);
    }

    if (ok && counts[0] > 0 && counts[1] > 0) {
      if (counts[0] != 1) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "topic %s has %d partitions; the control stream must have exactly 1",
            control_topic_, counts[0]));
      }
      const uint32_t existing = static_cast<uint32_t>(counts[1]);
      if (options_.data_partitions != 0 && options_.data_partitions != existing) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "data_partitions: topic %s has %d partitions, not %d (partitions of an event log "
            "never change: keys would move)",
            events_topic_, existing, options_.data_partitions));
      }
      if (existing > limits::kDataPartitionsMax) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "topic %s has %d partitions, at most %d", events_topic_, existing,
            limits::kDataPartitionsMax));
      }
      data_partitions_ = existing;
      return absl::OkStatus();
    }

    if (ok && !create_tried && (counts[0] < 0 || counts[1] < 0)) {
      create_tried = true;
      const uint32_t wanted[2] = {1, options_.data_partitions != 0
                                         ? options_.data_partitions
                                         : limits::kDataPartitionsDefault};
      // One replica per broker up to three (one per failure domain of a three-rack cluster);
      // with three or more a write needs two in-sync replicas, so one broker down loses
      // nothing acknowledged and refuses no write.
      const int replicas = options_.replication_factor != 0 ? options_.replication_factor
                                                            : std::clamp(brokers, 1, 3);
      std::vector<rd_kafka_NewTopic_t*> topics;
      char errstr[512];
      for (int i = 0; i < 2; i++) {
        if (counts[i] >= 0) continue;
        rd_kafka_NewTopic_t* nt =
            rd_kafka_NewTopic_new(names[i]->c_str(), static_cast<int>(wanted[i]),
                                  replicas, errstr, sizeof(errstr));
        if (nt == nullptr) {
          for (auto* t : topics) rd_kafka_NewTopic_destroy(t);
          return absl::InvalidArgumentError(absl::StrCat("new topic ", *names[i], ": ", errstr));
        }
        // History is the product: never compact, never expire.
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
        rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
        rd_kafka_NewTopic_set_config(nt, "retention.bytes", "-1");
        rd_kafka_NewTopic_set_config(
            nt, "max.message.bytes", absl::StrCat(limits::kKafkaTopicMessageBytesMax).c_str());
        rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", replicas >= 3 ? "2" : "1");
        topics.push_back(nt);
      }
      rd_kafka_AdminOptions_t* aopts =
          rd_kafka_AdminOptions_new(lane.rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
      rd_kafka_AdminOptions_set_request_timeout(aopts, RemainingMs(deadline), errstr,
                                                sizeof(errstr));
      rd_kafka_AdminOptions_set_operation_timeout(aopts, RemainingMs(deadline), errstr,
                                                  sizeof(errstr));
      rd_kafka_queue_t* q = rd_kafka_queue_new(lane.rk);
      rd_kafka_CreateTopics(lane.rk, topics.data(), topics.size(), aopts, q);
      rd_kafka_event_t* ev = rd_kafka_queue_poll(q, RemainingMs(deadline) + 1000);
      absl::Status created = absl::OkStatus();
      if (ev == nullptr) {
        created = absl::UnavailableError("create topics: no answer within open_timeout");
      } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        created = FromKafka(rd_kafka_event_error(ev), "create topics",
                            rd_kafka_event_error_string(ev));
      } else {
        size_t n = 0;
        const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n && created.ok(); i++) {
          const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
          // Another process may have created it a moment ago: the count check decides.
          if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            continue;
          }
          const char* detail = rd_kafka_topic_result_error_string(results[i]);
          created = FromKafka(err, absl::StrCat("create topic ", rd_kafka_topic_result_name(results[i])),
                              detail != nullptr ? detail : "");
        }
      }
      if (ev != nullptr) rd_kafka_event_destroy(ev);
      rd_kafka_queue_destroy(q);
      rd_kafka_AdminOptions_destroy(aopts);
      for (auto* t : topics) rd_kafka_NewTopic_destroy(t);
      RETURN_IF_ERROR(created);
      LogInfo(absl::StrCat("kafka log: created topics ", control_topic_, " and/or ", events_topic_));
      continue;  // read the metadata again
    }

    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat(
          "kafka topics ", control_topic_, "/", events_topic_, " not ready within open_timeout: ",
          last.message()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status KafkaLog::CheckTopicConfigs(absl::Time deadline) {
  Client& lane = *lanes_[0];
  char errstr[512];
  rd_kafka_ConfigResource_t* resources[2] = {
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, control_topic_.c_str()),
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, events_topic_.c_str()),
  };
  rd_kafka_AdminOptions_t* aopts =
      rd_kafka_AdminOptions_new(lane.rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_AdminOptions_set_request_timeout(aopts, RemainingMs(deadline), errstr, sizeof(errstr));
  rd_kafka_queue_t* q = rd_kafka_queue_new(lane.rk);
  rd_kafka_DescribeConfigs(lane.rk, resources, 2, aopts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, RemainingMs(deadline) + 1000);
  absl::Status status = absl::OkStatus();
  if (ev == nullptr) {
    status = absl::UnavailableError("describe topic configs: no answer within open_timeout");
  } else if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
    // librdkafka's mock cluster has no DescribeConfigs; a real broker always has.
    LogWarning(absl::StrCat("kafka log: cannot verify the configs of ", events_topic_, ": ",
                            rd_kafka_event_error_string(ev)));
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = FromKafka(rd_kafka_event_error(ev), "describe topic configs",
                       rd_kafka_event_error_string(ev));
  } else {
    size_t n = 0;
    const rd_kafka_ConfigResource_t** results = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(ev), &n);
    for (size_t i = 0; i < n && status.ok(); i++) {
      const char* topic = rd_kafka_ConfigResource_name(results[i]);
      if (rd_kafka_ConfigResource_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = FromKafka(rd_kafka_ConfigResource_error(results[i]),
                           absl::StrCat("describe configs of ", topic),
                           rd_kafka_ConfigResource_error_string(results[i]));
        break;
      }
      size_t m = 0;
      const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(results[i], &m);
      for (size_t j = 0; j < m; j++) {
        const std::string name = rd_kafka_ConfigEntry_name(entries[j]);
        const char* raw = rd_kafka_ConfigEntry_value(entries[j]);
        const std::string value = raw != nullptr ? raw : "";
        // Compaction keeps only the last record per key and retention drops old records:
        // either destroys the history the hash chain and the views are built from.
        const bool bad = (name == "cleanup.policy" && value != "delete") ||
                         (name == "retention.ms" && value != "-1") ||
                         (name == "retention.bytes" && value != "-1");
        if (bad) {
          status = absl::FailedPreconditionError(absl::StrCat(
              "topic ", topic, " has ", name, "=", value,
              "; an event log needs cleanup.policy=delete, retention.ms=-1, retention.bytes=-1"));
          break;
        }
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(aopts);
  rd_kafka_ConfigResource_destroy_array(resources, 2);
  return status;
}

absl::Status KafkaLog::StartProducer(absl::Time deadline) {
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
  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaLog::OnDelivery);
  rd_kafka_conf_set_opaque(conf, this);
  char errstr[512];
  producer_ = std::make_unique<Client>();
  producer_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (producer_->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", errstr));
  }
  const std::string* names[2] = {&control_topic_, &events_topic_};
  for (int i = 0; i < 2; i++) {
    producer_->topics[i] = rd_kafka_topic_new(producer_->rk, names[i]->c_str(), nullptr);
    if (producer_->topics[i] == nullptr) {
      return FromKafka(rd_kafka_last_error(), absl::StrCat("topic handle ", *names[i]));
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

absl::StatusOr<KafkaLog::Tail> KafkaLog::ScanTail(Client& lane, uint32_t partition,
                                                  absl::Time deadline) {
  rd_kafka_topic_t* rkt = lane.topics[TopicIndex(partition)];
  const int32_t kp = KafkaPartition(partition);
  const std::string where = absl::StrFormat("log partition %d (%s [%d])", partition,
                                            rd_kafka_topic_name(rkt), kp);
  int64_t low = 0, high = 0;
  // The lane reads committed data only, so `high` is the last stable offset: nothing at or
  // after it belongs to a finished transaction. Right after topic creation the leader may not
  // serve offsets yet (NOT_LEADER_FOR_PARTITION, UNKNOWN_TOPIC_OR_PART): transient errors are
  // retried until the deadline. The offsets come from ListOffsets through rd_kafka_offsets_for_times (timestamps
  // "earliest" and "latest"), which keeps to its timeout; rd_kafka_query_watermark_offsets
  // waits for an unreachable leader without bound on librdkafka 2.0, which would stall Recover
  // and, through it, Close.
  auto query = [&](int64_t which, int64_t* offset) -> absl::Status {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(rkt), kp)->offset = which;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(lane.rk, list, RemainingMs(deadline));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
    *offset = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && *offset < 0) err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    return FromKafka(err, absl::StrCat("offsets of ", where));
  };
  for (;;) {
    absl::Status s = query(RD_KAFKA_OFFSET_BEGINNING, &low);
    if (s.ok()) s = query(RD_KAFKA_OFFSET_END, &high);
    if (s.ok()) break;
    // On a cluster the partition's leader may not know a topic created a moment ago yet
    // (UNKNOWN_TOPIC_OR_PART): transient as well.
    const bool transient = s.code() == absl::StatusCode::kUnavailable ||
                           s.code() == absl::StatusCode::kNotFound;
    if (!transient || absl::Now() >= deadline) return s;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (low > 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s starts at offset %d, not 0: records were deleted (retention), the history is "
        "incomplete",
        where, low));
  }
  Tail tail;
  tail.tip = GenesisHash();
  if (high <= low) return tail;

  // Read backwards in growing windows: the last committed event is usually just before the
  // commit marker at high-1, but an aborted transaction can leave many records after it.
  int64_t scan_end = high;
  int64_t window = 16;
  for (;;) {
    const int64_t start = std::max(low, scan_end - window);
    if (rd_kafka_consume_start(rkt, kp, start) == -1) {
      return FromKafka(rd_kafka_last_error(), absl::StrCat("scan ", where));
    }
    std::string last_value;
    int64_t last_offset = -1;
    int64_t position = start;
    absl::Status status = absl::OkStatus();
    while (position < scan_end) {
      if (absl::Now() >= deadline) {
        status = absl::UnavailableError(
            absl::StrCat("scan ", where, ": the tail did not arrive within open_timeout"));
        break;
      }
      rd_kafka_message_t* m = rd_kafka_consume(rkt, kp, std::min(200, RemainingMs(deadline)));
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        position = std::max(position, m->offset);
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = FromKafka(m->err, absl::StrCat("scan ", where));
      } else {
        if (m->offset < scan_end) {
          last_value.assign(static_cast<const char*>(m->payload), m->len);
          last_offset = m->offset;
        }
        position = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
      if (!status.ok()) break;
    }
    rd_kafka_consume_stop(rkt, kp);
    RETURN_IF_ERROR(status);
    if (last_offset >= 0) {
      v1::Envelope last;
      if (!last.ParseFromString(last_value)) {
        return absl::DataLossError(
            absl::StrFormat("%s: the last event (offset %d) does not parse", where, last_offset));
      }
      tail.end = static_cast<uint64_t>(last_offset) + 1;
      tail.next_sequence = last.sequence() + 1;
      tail.tip = last.hash();
      return tail;
    }
    if (start == low) return tail;  // markers and aborted records only
    scan_end = start;
    window *= 8;
  }
}

absl::Status KafkaLog::StartFollower() {
  ASSIGN_OR_RETURN(follower_,
                   NewConsumer("follower", Ms(options_.replica_poll_interval)));
  follower_queue_ = rd_kafka_queue_new(follower_->rk);
  const LogEnds ends = durable_->Ends();
  for (uint32_t p = 0; p < ends.size(); p++) {
    const uint64_t from = ends[PartitionId(p)].value();
    if (rd_kafka_consume_start_queue(follower_->topics[TopicIndex(p)], KafkaPartition(p),
                                     static_cast<int64_t>(from), follower_queue_) == -1) {
      return FromKafka(rd_kafka_last_error(), absl::StrFormat("follow log partition %d", p));
    }
  }
  follow_thread_ = std::thread([this] {
    NameThisThread("pl-kfollow");
    FollowLoop();
  });
  return absl::OkStatus();
}

KafkaLog::~KafkaLog() {
  // The follower first (it advances durable_), then the committer (queued appends complete,
  // with the producer still there).
  stop_follower_ = true;
  if (follow_thread_.joinable()) follow_thread_.join();
  durable_.reset();
  if (follower_ != nullptr) {
    if (follower_queue_ != nullptr) {
      for (uint32_t p = 0; p < data_partitions_ + 1; p++) {
        rd_kafka_consume_stop(follower_->topics[TopicIndex(p)], KafkaPartition(p));
      }
      rd_kafka_queue_destroy(follower_queue_);
    }
    follower_.reset();
  }
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    for (auto& c : cursors_) {
      if (c->started) {
        rd_kafka_consume_stop(c->lane->topics[TopicIndex(c->partition)],
                              KafkaPartition(c->partition));
      }
    }
    cursors_.clear();
    lanes_.clear();
  }
  // Last: its destruction may still deliver reports of purged records (ignored by tag).
  producer_.reset();
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

absl::StatusOr<std::string> KafkaLog::Encode(v1::Envelope& sealed) {
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

void KafkaLog::OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque) {
  // Runs on the thread that serves the producer (the committer, inside poll/flush/commit).
  auto* log = static_cast<KafkaLog*>(opaque);
  const auto tag = reinterpret_cast<uintptr_t>(message->_private);
  const uint64_t generation = tag >> kTagIndexBits;
  const size_t index = tag & ((uintptr_t{1} << kTagIndexBits) - 1);
  if (generation != (log->group_generation_ & ((uint64_t{1} << (64 - kTagIndexBits)) - 1)) ||
      index >= log->deliveries_.size()) {
    return;  // a purged record of an earlier, failed group
  }
  Delivery& d = log->deliveries_[index];
  if (d.err == -1) log->delivered_++;
  d.err = message->err;
  d.offset = message->offset;
}

absl::Status KafkaLog::CommitGroup(std::vector<SealedAppend>& group, bool* in_doubt) {
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

absl::Status KafkaLog::Write(std::vector<SealedAppend>& group, GroupFailure& failure) {
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

absl::StatusOr<std::vector<DurableTail>> KafkaLog::Recover() {
  // One attempt is bounded by append_timeout so that Close (the destructor joins the
  // committer) waits at most that long while the broker is away.
  const absl::Time deadline = absl::Now() + options_.append_timeout;
  if (producer_ != nullptr) {
    // Nothing of the failed group may still go out; the old producer's open transaction is
    // completed or aborted by the new producer's init_transactions (same transactional.id).
    rd_kafka_purge(producer_->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    producer_.reset();
  }
  RETURN_IF_ERROR(StartProducer(deadline));
  // The tips after init_transactions are final: re-read them, since a group whose outcome was
  // unknown may have committed. A consumer of its own: lane 0 may be serving readers.
  ASSIGN_OR_RETURN(std::unique_ptr<Client> scanner, NewConsumer("recover", 50));
  std::vector<DurableTail> tails;
  for (uint32_t p = 0; p < data_partitions_ + 1; p++) {
    ASSIGN_OR_RETURN(Tail tail, ScanTail(*scanner, p, deadline));
    tails.push_back({Offset(tail.end), tail.next_sequence, std::move(tail.tip)});
  }
  return tails;
}

void KafkaLog::Idle() {
  // Serve the producer's queue now and then: errors, late reports.
  if (producer_ != nullptr) rd_kafka_poll(producer_->rk, 0);
}

bool KafkaLog::WritesHeld() { return durable_->WritesHeld(); }

void KafkaLog::ResumeWrites() { durable_->ResumeWrites(); }

// ---------------------------------------------------------------------------------------------
// Following (read replica)

void KafkaLog::FollowLoop() {
  constexpr size_t kBatch = 256;
  rd_kafka_message_t* batch[kBatch];
  absl::Time last_warning = absl::InfinitePast();
  const uint32_t partitions = data_partitions_ + 1;
  // Per batch: the last committed record seen of each partition (-1 = none).
  std::vector<ssize_t> last(partitions, -1);
  struct Update {
    uint32_t partition;
    uint64_t end;
    uint64_t events;  // the last event's sequence + 1
    std::string tip;
  };
  std::vector<Update> updates;
  while (!stop_follower_.load()) {
    ssize_t n = rd_kafka_consume_batch_queue(follower_queue_, 0, batch, kBatch);
    if (n <= 0) {
      rd_kafka_poll(follower_->rk, 0);  // serve (and drop) client events
      rd_kafka_message_t* m = rd_kafka_consume_queue(follower_queue_, 100);
      if (m == nullptr) continue;
      batch[0] = m;
      n = 1;
    }
    std::fill(last.begin(), last.end(), -1);
    for (ssize_t i = 0; i < n; i++) {
      const rd_kafka_message_t* m = batch[i];
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const bool control =
            std::strcmp(rd_kafka_topic_name(m->rkt), control_topic_.c_str()) == 0;
        const uint32_t p = control ? 0 : static_cast<uint32_t>(m->partition) + 1;
        if (p < partitions) last[p] = i;
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                 absl::Now() - last_warning > absl::Seconds(10)) {
        last_warning = absl::Now();
        LogWarning(absl::StrCat("kafka log follower: ", FromKafka(m->err, "fetch").message()));
      }
    }
    // Only the last event of each partition is parsed: its hash is the replica's chain tip.
    updates.clear();
    for (uint32_t p = 0; p < partitions; p++) {
      if (last[p] < 0) continue;
      const rd_kafka_message_t* m = batch[last[p]];
      v1::Envelope e;
      if (!e.ParseFromArray(m->payload, static_cast<int>(m->len))) {
        LogError(absl::StrFormat("kafka log follower: partition %d offset %d does not parse", p,
                                 m->offset));
        continue;
      }
      updates.push_back({p, static_cast<uint64_t>(m->offset) + 1, e.sequence() + 1, e.hash()});
    }
    for (ssize_t i = 0; i < n; i++) rd_kafka_message_destroy(batch[i]);
    for (Update& u : updates) {
      durable_->Advance(PartitionId(u.partition), {Offset(u.end), u.events, std::move(u.tip)});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

KafkaLog::Cursor* KafkaLog::AcquireCursor(uint32_t partition, uint64_t from,
                                          absl::Status* error) {
  const uint32_t partitions = data_partitions_ + 1;
  std::unique_lock<std::mutex> lock(readers_mu_);
  for (;;) {
    Cursor* fit = nullptr;
    Cursor* idle = nullptr;
    Cursor* lru = nullptr;
    for (size_t lane = 0; lane < lanes_.size(); lane++) {
      Cursor* c = cursors_[lane * partitions + partition].get();
      if (c->busy) continue;
      if (c->Fits(from)) {
        fit = c;
        break;
      }
      if (!c->started) {
        if (idle == nullptr) idle = c;
      } else if (lru == nullptr || c->last_used < lru->last_used) {
        lru = c;
      }
    }
    Cursor* chosen = fit != nullptr ? fit : idle;
    // Another lane before reseeking: two readers alternating on one partition would otherwise
    // throw away each other's prefetch on every call.
    if (chosen == nullptr && lanes_.size() < limits::kKafkaReadLanesMax) {
      auto lane = NewConsumer(absl::StrCat("reader-", lanes_.size()).c_str(), 50);
      if (!lane.ok()) {
        *error = lane.status();
        return nullptr;
      }
      lanes_.push_back(std::move(*lane));
      for (uint32_t p = 0; p < partitions; p++) {
        auto c = std::make_unique<Cursor>();
        c->lane = lanes_.back().get();
        c->partition = p;
        cursors_.push_back(std::move(c));
      }
      chosen = cursors_[(lanes_.size() - 1) * partitions + partition].get();
    }
    if (chosen == nullptr) chosen = lru;
    if (chosen != nullptr) {
      chosen->busy = true;
      chosen->last_used = ++read_clock_;
      if (fit != nullptr) {
        cursor_hits_++;
      } else {
        cursor_seeks_++;
      }
      return chosen;
    }
    readers_cv_.wait(lock);
  }
}

void KafkaLog::ReleaseCursor(Cursor* cursor) {
  std::lock_guard<std::mutex> lock(readers_mu_);
  cursor->busy = false;
  readers_cv_.notify_one();
}

absl::Status KafkaLog::ReadFromCursor(Cursor& c, uint32_t partition, uint64_t from, uint64_t end,
                                      size_t max_events, std::vector<StoredEvent>& out) {
  rd_kafka_topic_t* rkt = c.lane->topics[TopicIndex(partition)];
  const int32_t kp = KafkaPartition(partition);
  auto stop = [&] {
    if (c.started) rd_kafka_consume_stop(rkt, kp);
    c.started = false;
    c.stash.clear();
  };
  if (!c.Fits(from)) {
    stop();
    if (rd_kafka_consume_start(rkt, kp, static_cast<int64_t>(from)) == -1) {
      return FromKafka(rd_kafka_last_error(), absl::StrFormat("read log partition %d", partition));
    }
    c.started = true;
    c.expect = c.position = from;
  }
  while (!c.stash.empty() && c.stash.front().position().offset() < from) c.stash.pop_front();
  while (!c.stash.empty() && out.size() < max_events &&
         c.stash.front().position().offset() < end) {
    c.expect = c.stash.front().position().offset() + 1;
    out.push_back(std::move(c.stash.front()));
    c.stash.pop_front();
  }

  constexpr size_t kBatch = 256;
  rd_kafka_message_t* batch[kBatch];
  const absl::Time deadline = absl::Now() + options_.read_timeout;
  absl::Status status = absl::OkStatus();
  // `end` is the offset after the last committed event: until the consumer has passed it
  // there are events to deliver (the broker may take a moment: transaction markers are
  // written just after the commit returns, and read_committed fetches wait for them).
  while (status.ok() && out.size() < max_events && c.position < end && c.stash.empty()) {
    ssize_t n = rd_kafka_consume_batch(rkt, kp, 0, batch,
                                       std::min(kBatch, max_events - out.size()));
    if (n < 0) {
      status = FromKafka(rd_kafka_last_error(), absl::StrFormat("read log partition %d", partition));
      break;
    }
    if (n == 0) {
      // Nothing queued locally, yet committed events lie ahead (position < end): wait for
      // the fetch, so a Read returns min(max_events, all committed) and scans stay chunky.
      if (absl::Now() >= deadline) {
        if (!out.empty()) break;  // partial, but progress
        status = absl::UnavailableError(absl::StrFormat(
            "read log partition %d: events up to offset %d are committed but none arrived from "
            "the broker within read_timeout",
            partition, end - 1));
        break;
      }
      rd_kafka_message_t* m = rd_kafka_consume(rkt, kp, std::min(100, RemainingMs(deadline)));
      if (m == nullptr) continue;
      batch[0] = m;
      n = 1;
    }
    for (ssize_t i = 0; i < n; i++) {
      rd_kafka_message_t* m = batch[i];
      if (!status.ok()) {
        // drop the rest of a batch after an error
      } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        c.position = std::max<uint64_t>(c.position, static_cast<uint64_t>(m->offset));
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = FromKafka(m->err, absl::StrFormat("read log partition %d", partition));
      } else if (static_cast<uint64_t>(m->offset) >= c.position) {
        StoredEvent e;
        if (!e.ParseFromArray(m->payload, static_cast<int>(m->len))) {
          status = absl::DataLossError(absl::StrFormat(
              "log partition %d offset %d: event does not parse", partition, m->offset));
        } else {
          const auto offset = static_cast<uint64_t>(m->offset);
          e.mutable_position()->set_partition(partition);
          e.mutable_position()->set_offset(offset);
          c.position = offset + 1;
          if (offset < end && out.size() < max_events && c.stash.empty()) {
            c.expect = offset + 1;
            out.push_back(std::move(e));
          } else {
            c.stash.push_back(std::move(e));
          }
        }
      }
      rd_kafka_message_destroy(m);
    }
  }
  if (!status.ok()) stop();
  return status;
}

absl::StatusOr<std::vector<StoredEvent>> KafkaLog::Read(PartitionId partition_id, Offset from,
                                                        size_t max_events) {
  // The cursors and librdkafka work in raw partition numbers and offsets.
  const uint32_t partition = partition_id.value();
  const uint64_t from_offset = from.value();
  RETURN_IF_ERROR(CheckReadPartition(partition_id, data_partitions_ + 1));
  const uint64_t end = durable_->Ends()[partition_id].value();
  std::vector<StoredEvent> out;
  if (from_offset >= end || max_events == 0) return out;
  absl::Status error;
  Cursor* cursor = AcquireCursor(partition, from_offset, &error);
  if (cursor == nullptr) return error;
  out.reserve(std::min<uint64_t>({max_events, end - from_offset, 4096}));
  absl::Status status = ReadFromCursor(*cursor, partition, from_offset, end, max_events, out);
  ReleaseCursor(cursor);
  if (!status.ok()) return status;
  return out;
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
  std::lock_guard<std::mutex> lock(readers_mu_);
  s.cursor_hits = cursor_hits_;
  s.cursor_seeks = cursor_seeks_;
  return s;
}

}  // namespace perfledger
