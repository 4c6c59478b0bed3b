#include "ledger/kafka_client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/status_macros.h"

namespace perfledger {

absl::Status FromKafka(rd_kafka_resp_err_t err, std::string_view what,
                       std::string_view detail) {
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

int Ms(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, 1 << 30));
}

int RemainingMs(absl::Time deadline) {
  return std::max(1, Ms(deadline - absl::Now()));
}

namespace {

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

}  // namespace

absl::StatusOr<rd_kafka_conf_t*> NewConf(const KafkaLogOptions& options, KafkaProps props) {
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

KafkaTopicNames KafkaTopicNames::ForPrefix(const std::string& prefix) {
  return {absl::StrCat(prefix, ".control"), absl::StrCat(prefix, ".events")};
}

KafkaClient::~KafkaClient() {
  for (rd_kafka_topic_t* t : topics) {
    if (t != nullptr) rd_kafka_topic_destroy(t);
  }
  if (rk != nullptr) rd_kafka_destroy(rk);
}

absl::StatusOr<std::unique_ptr<KafkaClient>> NewKafkaConsumer(const KafkaLogOptions& options,
                                                              const KafkaTopicNames& names,
                                                              const char* purpose,
                                                              int fetch_wait_ms) {
  ASSIGN_OR_RETURN(
      rd_kafka_conf_t * conf,
      NewConf(options,
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
  auto client = std::make_unique<KafkaClient>();
  client->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (client->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka consumer ", purpose, ": ", errstr));
  }
  for (int i = 0; i < 2; i++) {
    rd_kafka_topic_conf_t* tconf = rd_kafka_topic_conf_new();
    // The legacy consumer's own offset store: off, like the global setting.
    rd_kafka_topic_conf_set(tconf, "auto.commit.enable", "false", errstr, sizeof(errstr));
    client->topics[i] = rd_kafka_topic_new(client->rk, names.name(i).c_str(), tconf);
    if (client->topics[i] == nullptr) {
      return FromKafka(rd_kafka_last_error(), absl::StrCat("topic handle ", names.name(i)));
    }
  }
  return client;
}

}  // namespace perfledger
