// librdkafka plumbing of the Kafka event log (kafka_log.h), shared by its units: the mapping of
// librdkafka errors to absl::Status, client configuration, the client handles, the log's topic
// layout and record headers. Internal to ledger/: only the Kafka log's own files include it
// (kafka_log.h keeps rdkafka.h out of its includes).
//
// Thread safety: the functions keep no state and may be called from any thread. A KafkaClient
// is a librdkafka handle with its topic handles, which librdkafka lets any thread use; which
// thread consumes which of its partitions is up to its owner (kafka_reader.h).
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/kafka_options.h"

namespace perfledger {

// Record headers: the event's type, schema version (decimal) and id.
inline constexpr char kHeaderType[] = "pl-type";
inline constexpr char kHeaderSchema[] = "pl-schema";
inline constexpr char kHeaderEventId[] = "pl-event-id";

// The one place librdkafka errors become absl::Status. `what` names the operation; `detail`
// is librdkafka's own message when it has a better one than err2str.
absl::Status FromKafka(rd_kafka_resp_err_t err, std::string_view what,
                       std::string_view detail = {});

// rd_kafka_error_t (the transactional API's error) → Status; destroys `error`. A fatal error
// is always FAILED_PRECONDITION: the producer instance is finished.
absl::Status FromKafkaError(rd_kafka_error_t* error, std::string_view what);

int Ms(absl::Duration d);

// Milliseconds left until `deadline`, at least 1 (librdkafka treats 0 as "don't wait" and
// -1 as "forever").
int RemainingMs(absl::Time deadline);

using KafkaProps = std::initializer_list<std::pair<const char*, std::string>>;

// A configuration with the log's base settings, `props`, then the caller's overrides.
absl::StatusOr<rd_kafka_conf_t*> NewConf(const KafkaLogOptions& options, KafkaProps props);

// Whether `prefix` makes valid Kafka topic names: 1..200 characters of [A-Za-z0-9._-].
bool ValidTopicPrefix(std::string_view prefix);

// The log's two topics. Topic index 0 is the control topic, 1 the events topic.
struct KafkaTopicNames {
  std::string control;  // "<prefix>.control": log partition 0 (the control stream)
  std::string events;   // "<prefix>.events": log partitions 1..N

  static KafkaTopicNames ForPrefix(const std::string& prefix);
  const std::string& name(int topic_index) const { return topic_index == 0 ? control : events; }
};

// Log partition → (topic index, Kafka partition).
inline int TopicIndex(uint32_t partition) { return partition == 0 ? 0 : 1; }
inline int32_t KafkaPartition(uint32_t partition) {
  return partition == 0 ? 0 : static_cast<int32_t>(partition - 1);
}

// Client handles for one consumer ("lane") or the producer; topics indexed 0 control, 1 events.
// Destroys what it holds.
struct KafkaClient {
  rd_kafka_t* rk = nullptr;
  rd_kafka_topic_t* topics[2] = {nullptr, nullptr};  // control, events

  KafkaClient() = default;
  KafkaClient(const KafkaClient&) = delete;
  KafkaClient& operator=(const KafkaClient&) = delete;
  ~KafkaClient();
};

// A consumer (a read lane, the follower, a recovery scan): read_committed, group-less, no
// offset commits, with handles for both topics. `purpose` names it (client.id
// "perfledger-<purpose>"); `fetch_wait_ms` is its fetch.wait.max.ms.
absl::StatusOr<std::unique_ptr<KafkaClient>> NewKafkaConsumer(const KafkaLogOptions& options,
                                                              const KafkaTopicNames& names,
                                                              const char* purpose,
                                                              int fetch_wait_ms);

}  // namespace perfledger
