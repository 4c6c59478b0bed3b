#include "tools/perfbench/kafka_baseline.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace perfbench {
namespace {

using Clock = std::chrono::steady_clock;

// The write one thread waits for: its records' delivery reports (or the first error).
struct Write {
  std::mutex mu;
  std::condition_variable cv;
  uint32_t remaining = 0;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* w = static_cast<Write*>(m->_private);
  std::lock_guard lock(w->mu);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && w->err == RD_KAFKA_RESP_ERR_NO_ERROR) w->err = m->err;
  if (--w->remaining == 0) w->cv.notify_one();
}

struct Handle {
  rd_kafka_t* rk = nullptr;
  ~Handle() {
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

absl::Status KafkaError(const std::string& what, rd_kafka_resp_err_t err) {
  return absl::InternalError(absl::StrCat("kafka baseline: ", what, ": ", rd_kafka_err2str(err)));
}

absl::Status ErrorOf(const std::string& what, rd_kafka_error_t* error) {
  absl::Status s = absl::InternalError(
      absl::StrCat("kafka baseline: ", what, ": ", rd_kafka_error_string(error)));
  rd_kafka_error_destroy(error);
  return s;
}

absl::StatusOr<rd_kafka_conf_t*> Conf(
    const std::vector<std::pair<std::string, std::string>>& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka baseline: ", key, ": ", errstr));
    }
  }
  return conf;
}

// Creates or deletes `topic` through `rk`'s admin API and waits for the result.
absl::Status Admin(rd_kafka_t* rk, const std::string& topic, uint32_t partitions, bool create) {
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
  char errstr[512];
  rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_request_timeout(opts, 30000, errstr, sizeof errstr);
  if (create) {
    // Replication factor -1: the cluster's default.replication.factor (and its min ISR), as
    // deploy/kafka/kafka.sh configures it for one node and for three.
    rd_kafka_NewTopic_t* t = rd_kafka_NewTopic_new(topic.c_str(), static_cast<int>(partitions),
                                                   -1, errstr, sizeof errstr);
    if (t == nullptr) {
      rd_kafka_AdminOptions_destroy(opts);
      rd_kafka_queue_destroy(q);
      return absl::InvalidArgumentError(absl::StrCat("kafka baseline: topic: ", errstr));
    }
    rd_kafka_CreateTopics(rk, &t, 1, opts, q);
    rd_kafka_NewTopic_destroy(t);
  } else {
    rd_kafka_DeleteTopic_t* t = rd_kafka_DeleteTopic_new(topic.c_str());
    rd_kafka_DeleteTopics(rk, &t, 1, opts, q);
    rd_kafka_DeleteTopic_destroy(t);
  }
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 60000);
  absl::Status status;
  if (ev == nullptr) {
    status = absl::DeadlineExceededError("kafka baseline: no answer from the admin API in 60 s");
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = KafkaError(create ? "create topic" : "delete topic", rd_kafka_event_error(ev));
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** results =
        create ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n)
               : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
      if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = KafkaError(absl::StrCat(create ? "create " : "delete ", topic),
                            rd_kafka_topic_result_error(results[i]));
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  return status;
}

}  // namespace

const char* KafkaBaselineModeName(KafkaBaselineMode mode) {
  return mode == KafkaBaselineMode::kTransaction ? "transaction" : "produce";
}

absl::StatusOr<BaselineResult> RunKafkaBaseline(const BaselineOptions& options,
                                                const KafkaBaselineOptions& kafka) {
  BaselineResult result;
  const std::string topic =
      absl::StrCat("perfbench-baseline-", ::getpid(), "-",
                   std::chrono::system_clock::now().time_since_epoch().count());
  result.db_path = topic;
  const bool transactional = kafka.mode == KafkaBaselineMode::kTransaction;
  const uint32_t threads = std::max<uint32_t>(1, options.threads);

  // One producer per thread in transaction mode (a transactional producer runs one transaction
  // at a time); one shared producer otherwise, as perfledgerd shares its one.
  const uint32_t producers = transactional ? threads : 1;
  std::vector<std::unique_ptr<Handle>> handles;
  for (uint32_t i = 0; i < producers; i++) {
    std::vector<std::pair<std::string, std::string>> settings = {
        {"bootstrap.servers", kafka.brokers},
        {"client.id", "perfbench-baseline"},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", std::to_string(kafka.linger_ms)},
    };
    if (transactional) settings.push_back({"transactional.id", absl::StrCat(topic, "-", i)});
    settings.insert(settings.end(), kafka.properties.begin(), kafka.properties.end());
    auto conf = Conf(settings);
    if (!conf.ok()) return conf.status();
    rd_kafka_conf_set_dr_msg_cb(*conf, &OnDelivery);
    char errstr[512];
    auto handle = std::make_unique<Handle>();
    handle->rk = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, errstr, sizeof errstr);
    if (handle->rk == nullptr) {
      rd_kafka_conf_destroy(*conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka baseline: producer: ", errstr));
    }
    handles.push_back(std::move(handle));
  }
  if (absl::Status s = Admin(handles[0]->rk, topic, kafka.partitions, true); !s.ok()) return s;
  if (transactional) {
    for (auto& h : handles) {
      if (rd_kafka_error_t* e = rd_kafka_init_transactions(h->rk, 60000); e != nullptr) {
        absl::Status s = ErrorOf("init transactions", e);
        Admin(handles[0]->rk, topic, kafka.partitions, false).IgnoreError();
        return s;
      }
    }
  }

  // Delivery reports are served by one poller per producer, as perfledgerd's committer does.
  std::atomic<bool> stop{false};
  std::vector<std::thread> pollers;
  for (auto& h : handles) {
    pollers.emplace_back([&stop, rk = h->rk] {
      while (!stop.load()) rd_kafka_poll(rk, 50);
    });
  }

  std::string pool(1 << 20, '\0');
  std::mt19937_64 rng(42);
  for (char& c : pool) c = static_cast<char>(rng());
  const size_t value_bytes = std::min(options.value_bytes, pool.size() / 2);

  const Clock::time_point start = Clock::now();
  const Clock::time_point window_start = start + options.warmup;
  const Clock::time_point window_end = window_start + options.duration;
  std::mutex mu;
  std::string first_error;
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < threads; t++) {
    workers.emplace_back([&, t] {
      rd_kafka_t* rk = handles[transactional ? t : 0]->rk;
      Histogram latency;
      uint64_t batches = 0;
      size_t offset = (t * 7919) % (pool.size() / 2);
      Write write;
      auto fail = [&](std::string what) {
        std::lock_guard lock(mu);
        if (first_error.empty()) first_error = std::move(what);
        failed = true;
      };
      for (Clock::time_point now = Clock::now(); now < window_end && !failed; now = Clock::now()) {
        const Clock::time_point sent = Clock::now();
        if (transactional) {
          if (rd_kafka_error_t* e = rd_kafka_begin_transaction(rk); e != nullptr) {
            fail(std::string(ErrorOf("begin transaction", e).message()));
            break;
          }
        }
        {
          std::lock_guard lock(write.mu);
          write.remaining = options.keys_per_batch;
          write.err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        for (uint32_t k = 0; k < options.keys_per_batch; k++) {
          offset = (offset + 131) % (pool.size() / 2);
          const std::string key = absl::StrCat("t", t, "-", batches, "-", k);
          char* value = pool.data() + offset;  // copied by librdkafka (RD_KAFKA_MSG_F_COPY)
          const rd_kafka_resp_err_t err = rd_kafka_producev(
              rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
              RD_KAFKA_V_VALUE(value, value_bytes),
              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&write),
              RD_KAFKA_V_END);
          if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fail(std::string(KafkaError("produce", err).message()));
            // The records not produced never report.
            std::lock_guard lock(write.mu);
            write.remaining -= options.keys_per_batch - k;
            break;
          }
        }
        {
          std::unique_lock lock(write.mu);
          write.cv.wait(lock, [&] { return write.remaining == 0; });
          if (write.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            lock.unlock();
            fail(std::string(KafkaError("delivery", write.err).message()));
            break;
          }
        }
        if (failed) break;
        if (transactional) {
          if (rd_kafka_error_t* e = rd_kafka_commit_transaction(rk, 60000); e != nullptr) {
            fail(std::string(ErrorOf("commit transaction", e).message()));
            break;
          }
        }
        if (sent >= window_start) {
          latency.Record(static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent).count()));
          ++batches;
        }
      }
      std::lock_guard lock(mu);
      result.latency.Merge(latency);
      result.batches += batches;
    });
  }
  for (std::thread& w : workers) w.join();
  for (auto& h : handles) rd_kafka_flush(h->rk, 10000);
  stop = true;
  for (std::thread& p : pollers) p.join();
  absl::Status deleted = Admin(handles[0]->rk, topic, kafka.partitions, false);
  handles.clear();

  if (!first_error.empty()) return absl::InternalError(first_error);
  if (!deleted.ok()) return deleted;
  result.keys = result.batches * options.keys_per_batch;
  result.window_seconds = std::chrono::duration<double>(options.duration).count();
  return result;
}

}  // namespace perfbench
