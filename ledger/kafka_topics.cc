#include "ledger/kafka_topics.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/status_macros.h"

namespace perfledger {

absl::StatusOr<uint32_t> EnsureKafkaTopics(KafkaClient& admin, const KafkaLogOptions& options,
                                           const KafkaTopicNames& names, absl::Time deadline) {
  bool create_tried = false;
  int brokers = 0;  // in the cluster's metadata
  absl::Status last = absl::UnavailableError("no metadata yet");
  for (;;) {
    int counts[2] = {-1, -1};  // -1 missing, 0 not ready (no leader yet)
    bool ok = true;
    for (int i = 0; i < 2 && ok; i++) {
      const rd_kafka_metadata_t* md = nullptr;
      rd_kafka_resp_err_t err =
          rd_kafka_metadata(admin.rk, 0, admin.topics[i], &md, RemainingMs(deadline));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        last = FromKafka(err, absl::StrCat("metadata of ", names.name(i)));
        ok = false;
        break;
      }
      brokers = md->broker_cnt;
      const rd_kafka_metadata_topic_t* t = md->topic_cnt == 1 ? &md->topics[0] : nullptr;
      if (t == nullptr || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        counts[i] = -1;
      } else if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        counts[i] = 0;
        last = FromKafka(t->err, absl::StrCat("metadata of ", names.name(i)));
      } else {
        counts[i] = t->partition_cnt;
        for (int j = 0; j < t->partition_cnt; j++) {
          if (t->partitions[j].leader < 0 || t->partitions[j].err != 0) counts[i] = 0;
        }
        if (counts[i] == 0) {
          last = absl::UnavailableError(absl::StrCat(names.name(i), ": no leader"));
        }
      }
      rd_kafka_metadata_destroy(md);
    }

    if (ok && counts[0] > 0 && counts[1] > 0) {
      if (counts[0] != 1) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "topic %s has %d partitions; the control stream must have exactly 1",
            names.control, counts[0]));
      }
      const uint32_t existing = static_cast<uint32_t>(counts[1]);
      if (options.data_partitions != 0 && options.data_partitions != existing) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "data_partitions: topic %s has %d partitions, not %d (partitions of an event log "
            "never change: keys would move)",
            names.events, existing, options.data_partitions));
      }
      if (existing > limits::kDataPartitionsMax) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "topic %s has %d partitions, at most %d", names.events, existing,
            limits::kDataPartitionsMax));
      }
      return existing;
    }

    if (ok && !create_tried && (counts[0] < 0 || counts[1] < 0)) {
      create_tried = true;
      const uint32_t wanted[2] = {1, options.data_partitions != 0
                                        ? options.data_partitions
                                        : limits::kDataPartitionsDefault};
      // One replica per broker up to three (one per failure domain of a three-rack cluster);
      // with three or more a write needs two in-sync replicas, so one broker down loses
      // nothing acknowledged and refuses no write.
      const int replicas = options.replication_factor != 0 ? options.replication_factor
                                                           : std::clamp(brokers, 1, 3);
      std::vector<rd_kafka_NewTopic_t*> topics;
      char errstr[512];
      for (int i = 0; i < 2; i++) {
        if (counts[i] >= 0) continue;
        rd_kafka_NewTopic_t* nt =
            rd_kafka_NewTopic_new(names.name(i).c_str(), static_cast<int>(wanted[i]),
                                  replicas, errstr, sizeof(errstr));
        if (nt == nullptr) {
          for (auto* t : topics) rd_kafka_NewTopic_destroy(t);
          return absl::InvalidArgumentError(
              absl::StrCat("new topic ", names.name(i), ": ", errstr));
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
          rd_kafka_AdminOptions_new(admin.rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
      rd_kafka_AdminOptions_set_request_timeout(aopts, RemainingMs(deadline), errstr,
                                                sizeof(errstr));
      rd_kafka_AdminOptions_set_operation_timeout(aopts, RemainingMs(deadline), errstr,
                                                  sizeof(errstr));
      rd_kafka_queue_t* q = rd_kafka_queue_new(admin.rk);
      rd_kafka_CreateTopics(admin.rk, topics.data(), topics.size(), aopts, q);
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
          created = FromKafka(
              err, absl::StrCat("create topic ", rd_kafka_topic_result_name(results[i])),
              detail != nullptr ? detail : "");
        }
      }
      if (ev != nullptr) rd_kafka_event_destroy(ev);
      rd_kafka_queue_destroy(q);
      rd_kafka_AdminOptions_destroy(aopts);
      for (auto* t : topics) rd_kafka_NewTopic_destroy(t);
      RETURN_IF_ERROR(created);
      LogInfo(absl::StrCat("kafka log: created topics ", names.control, " and/or ", names.events));
      continue;  // read the metadata again
    }

    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat(
          "kafka topics ", names.control, "/", names.events, " not ready within open_timeout: ",
          last.message()));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status CheckKafkaTopicConfigs(KafkaClient& admin, const KafkaTopicNames& names,
                                    absl::Time deadline) {
  char errstr[512];
  rd_kafka_ConfigResource_t* resources[2] = {
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, names.control.c_str()),
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, names.events.c_str()),
  };
  rd_kafka_AdminOptions_t* aopts =
      rd_kafka_AdminOptions_new(admin.rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_AdminOptions_set_request_timeout(aopts, RemainingMs(deadline), errstr, sizeof(errstr));
  rd_kafka_queue_t* q = rd_kafka_queue_new(admin.rk);
  rd_kafka_DescribeConfigs(admin.rk, resources, 2, aopts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, RemainingMs(deadline) + 1000);
  absl::Status status = absl::OkStatus();
  if (ev == nullptr) {
    status = absl::UnavailableError("describe topic configs: no answer within open_timeout");
  } else if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
    // librdkafka's mock cluster has no DescribeConfigs; a real broker always has.
    LogWarning(absl::StrCat("kafka log: cannot verify the configs of ", names.events, ": ",
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

}  // namespace perfledger
