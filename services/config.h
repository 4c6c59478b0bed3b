// perfledgerd's settings: one struct, one table (config.cc) that binds each setting to a flag
// and to the config file with its description, default and bounds. `--help` prints the table;
// docs/OPERATING.md's configuration table lists the same flags as `perfledgerd --help`.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/limits.h"

namespace CLI {
class App;
}

namespace perfledger::services {

struct ServerConfig {
  std::string listen = "127.0.0.1:7411";
  std::string data_dir = "./perfledger-data";
  std::string log_backend = "embedded";  // embedded | kafka
  uint32_t data_partitions = 0;  // 0: the existing log's count, or 8 for a new log
  std::string kafka_brokers = "127.0.0.1:19092";
  std::string kafka_topic_prefix = "perfledger";
  uint32_t kafka_replication_factor = 0;
  bool read_replica = false;
  std::string tokens_file;
  // Personal data keys (ledger/key_store.h): the store's directory (default <data-dir>/keys)
  // and the key-encryption key file (default <data-dir>/kek; created 0600 when absent).
  std::string key_dir;
  std::string kek_file;
  // An erasure keeps the employee's compensation records this long (limits.h explains the
  // default).
  uint32_t retention_days = limits::kRetentionDaysDefault;
  // Aggregates shown outside HR hide groups smaller than this (never below the floor).
  uint32_t min_group_size = limits::kMinGroupSizeDefault;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;  // set → mutual TLS (client certificates required)
  uint32_t shutdown_grace_seconds = 10;
  uint32_t max_threads = 256;
  uint32_t deadline_check_seconds = 60;  // 0 = no live scheduler
  // Hooks: an item not acknowledged within this time is sent again (per-subscription override).
  uint32_t hook_redelivery_seconds = limits::kHookRedeliverSecondsDefault;
  // Admission control: new commands wait while the views or the reactor are further behind the
  // log than this many events (0 = never wait).
  uint64_t view_backlog_events_max = limits::kViewBacklogEventsMax;
  std::string replay_to;  // set: replay the log into this scratch dir, print digests, exit
};

// Registers every setting on `app` (flags, and keys of the --config TOML/INI file).
void BindConfig(CLI::App& app, ServerConfig& config);

// Cross-field checks CLI11 cannot express (e.g. no open access off loopback).
absl::Status ValidateConfig(const ServerConfig& config);

bool IsLoopback(const std::string& listen);

}  // namespace perfledger::services
