#include "services/config.h"

#include <CLI/CLI.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/limits.h"

namespace perfledger::services {

void BindConfig(CLI::App& app, ServerConfig& c) {
  app.set_config("--config", "", "Read settings from a TOML/INI file (keys as the long flags)");
  app.add_option("--listen", c.listen, "gRPC address host:port (plaintext only on loopback)")
      ->capture_default_str();
  app.add_option("--data-dir", c.data_dir, "Directory of the embedded log and the state store")
      ->capture_default_str();
  app.add_option("--log-backend", c.log_backend, "Event log: embedded (RocksDB) or kafka")
      ->check(CLI::IsMember({"embedded", "kafka"}))
      ->capture_default_str();
  app.add_option("--data-partitions", c.data_partitions,
                 "Data partitions of a new log (fixed once created); 0 = the existing log's "
                 "count, or 8 for a new one")
      ->check(CLI::Range(0u, limits::kDataPartitionsMax))
      ->capture_default_str();
  app.add_option("--kafka-brokers", c.kafka_brokers, "Kafka bootstrap servers (kafka backend)")
      ->capture_default_str();
  app.add_option("--kafka-topic-prefix", c.kafka_topic_prefix,
                 "Topics <prefix>.control and <prefix>.events")
      ->capture_default_str();
  app.add_option("--kafka-replication-factor", c.kafka_replication_factor,
                 "Replication factor of topics this server creates; 0 = one per broker, "
                 "at most 3 (min.insync.replicas 2 from 3 replicas on)")
      ->check(CLI::Range(0u, 16u))
      ->capture_default_str();
  app.add_flag("--read-replica", c.read_replica,
               "Serve queries from the log without writing (kafka backend)");
  app.add_option("--tokens-file", c.tokens_file,
                 "Bearer tokens: lines '<token> <principal> <role> [<employee_id>|-] "
                 "[<org_units>]'; employee and manager tokens name their employee id");
  app.add_option("--key-dir", c.key_dir,
                 "Personal data keys, wrapped by the key-encryption key (default <data-dir>/keys)");
  app.add_option("--kek-file", c.kek_file,
                 "Key-encryption key (64 hex chars, mode 0600; created when absent). Default "
                 "<data-dir>/kek; keep it off the data volume and out of its backups");
  app.add_option("--retention-days", c.retention_days,
                 "After an erasure, compensation records are kept this long for payroll and tax "
                 "duties, then shredded; 0 = shred with the erasure")
      ->check(CLI::Range(0u, limits::kRetentionDaysMax))
      ->capture_default_str();
  app.add_option("--min-group-size", c.min_group_size,
                 "Aggregates shown to employees and managers hide groups smaller than this")
      ->check(CLI::Range(limits::kMinGroupSizeFloor, 1000u))
      ->capture_default_str();
  app.add_option("--tls-cert", c.tls_cert, "Server certificate (PEM); enables TLS");
  app.add_option("--tls-key", c.tls_key, "Server private key (PEM)");
  app.add_option("--tls-client-ca", c.tls_client_ca,
                 "CA (PEM) for client certificates; enables mutual TLS");
  app.add_option("--shutdown-grace-seconds", c.shutdown_grace_seconds,
                 "On SIGTERM, time for in-flight calls to finish")
      ->check(CLI::Range(0u, 600u))
      ->capture_default_str();
  app.add_option("--deadline-check-seconds", c.deadline_check_seconds,
                 "How often due deadlines (PIP ends, follow-ups) become events; 0 = never")
      ->check(CLI::Range(0u, 86400u))
      ->capture_default_str();
  app.add_option("--hook-redelivery-seconds", c.hook_redelivery_seconds,
                 "Hooks: resend an item not acknowledged within this time")
      ->check(CLI::Range(1u, limits::kHookRedeliverSecondsMax))
      ->capture_default_str();
  app.add_option("--max-threads", c.max_threads, "Upper bound on gRPC server threads")
      ->check(CLI::Range(4u, 4096u))
      ->capture_default_str();
  app.add_option("--view-backlog-max-events", c.view_backlog_events_max,
                 "New commands wait (then UNAVAILABLE) while the views or the policy reactor "
                 "are more than this many events behind the log; 0 = never wait")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--replay-to", c.replay_to,
                 "Auditor replay: fold the log from offset 0 into a new state store in this "
                 "directory, print each view's digest and exit (kafka is only read)");
}

bool IsLoopback(const std::string& listen) {
  return absl::StartsWith(listen, "127.") || absl::StartsWith(listen, "localhost:") ||
         absl::StartsWith(listen, "[::1]:") || absl::StartsWith(listen, "unix:");
}

absl::Status ValidateConfig(const ServerConfig& c) {
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!c.tls_client_ca.empty() && c.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (!IsLoopback(c.listen)) {
    if (c.tls_cert.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen ", c.listen, ": plaintext is allowed only on loopback; set --tls-cert/--tls-key"));
    }
    if (c.tokens_file.empty() && c.tls_client_ca.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen ", c.listen, ": off loopback every caller must authenticate; set "
          "--tokens-file or --tls-client-ca"));
    }
  }
  if (c.read_replica && c.log_backend != "kafka") {
    return absl::InvalidArgumentError("--read-replica needs --log-backend kafka");
  }
  return absl::OkStatus();
}

}  // namespace perfledger::services
