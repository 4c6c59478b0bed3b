#include "tools/perfctl/session.h"

#include <iostream>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tools/perfctl/limits.h"
#include "tools/perfctl/parse.h"

namespace perfctl {

namespace v1 = perfledger::v1;

void AddMetaFlags(CLI::App* command, MetaFlags* flags) {
  const char* group = "Command options";
  command->add_option("--idempotency-key", flags->idempotency_key,
                      "Key that makes a retry harmless (1..64 chars); default: derived by the "
                      "server from --event-id, else none")
      ->group(group);
  command->add_option("--event-id", flags->event_id, "Client-chosen id of the (first) event")
      ->group(group);
  flags->expected_version_option =
      command->add_option("--expected-version", flags->expected_version,
                          "Fail with ABORTED unless the stream is at this version (0 = new)")
          ->group(group);
  command->add_option("--at", flags->at, "Business time of the fact, RFC 3339 (default: now)")
      ->group(group);
  command->add_option("--correlation-id", flags->correlation_id,
                      "Conversation id carried on the events")
      ->group(group);
}

absl::StatusOr<v1::CommandMeta> BuildMeta(const MetaFlags& flags) {
  v1::CommandMeta meta;
  if (!flags.idempotency_key.empty()) {
    if (flags.idempotency_key.size() > limits::kIdempotencyKeyBytesMax) {
      return UsageError("--idempotency-key: longer than 64 characters");
    }
    meta.set_idempotency_key(flags.idempotency_key);
  }
  if (!flags.event_id.empty()) {
    PERFCTL_RETURN_IF_ERROR(ValidateId("--event-id", flags.event_id));
    meta.set_event_id(flags.event_id);
  }
  if (flags.expected_version_option != nullptr && flags.expected_version_option->count() > 0) {
    meta.set_expected_version(flags.expected_version);
  }
  if (!flags.at.empty()) {
    PERFCTL_ASSIGN_OR_RETURN(*meta.mutable_occurred_at(), ParseTimestamp("--at", flags.at));
  }
  meta.set_correlation_id(flags.correlation_id);
  return meta;
}

Session::Session(CLI::App* app) {
  const char* group = "Connection";
  app->add_option("--server", flags_.server, "perfledgerd address host:port")
      ->envname("PERFLEDGER_SERVER")
      ->capture_default_str()
      ->group(group);
  app->add_option("--token", flags_.token, "Bearer token sent on every call")
      ->envname("PERFLEDGER_TOKEN")
      ->group(group);
  app->add_flag("--tls", flags_.tls, "Use TLS with the system roots")->group(group);
  app->add_option("--tls-ca", flags_.tls_ca, "PEM file of the CA that signed the server (implies TLS)")
      ->group(group);
  app->add_option("--tls-cert", flags_.tls_cert, "PEM client certificate for mutual TLS")
      ->group(group);
  app->add_option("--tls-key", flags_.tls_key, "PEM private key of --tls-cert")->group(group);
  app->add_option("--tls-server-name", flags_.tls_server_name,
                  "Name to verify in the server certificate (default: the host of --server)")
      ->group(group);
  app->add_option("--timeout", flags_.timeout, "Deadline of each call (10s, 500ms, 2m)")
      ->capture_default_str()
      ->group(group);
  app->add_option("-o,--output", flags_.output, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str()
      ->group("Output");
}

absl::StatusOr<Connection*> Session::connection() {
  if (connection_ != nullptr) return connection_.get();
  ConnectionOptions options;
  options.server = flags_.server;
  options.token = flags_.token;
  options.tls = flags_.tls;
  options.tls_ca_file = flags_.tls_ca;
  options.tls_cert_file = flags_.tls_cert;
  options.tls_key_file = flags_.tls_key;
  options.tls_server_name = flags_.tls_server_name;
  PERFCTL_ASSIGN_OR_RETURN(options.timeout, ParseDuration("--timeout", flags_.timeout));
  PERFCTL_ASSIGN_OR_RETURN(connection_, Connection::Open(options));
  return connection_.get();
}

void Session::Select(std::string what, std::function<absl::Status()> run) {
  what_ = std::move(what);
  run_ = std::move(run);
}

int Session::Run() {
  absl::Status status = run_();
  std::cout.flush();
  if (status.ok()) return 0;
  const ExitCode code = ExitCodeFor(status);
  std::string line = DescribeFailure(what_, status);
  if (code == ExitCode::kUnavailable) absl::StrAppend(&line, " (server ", flags_.server, ")");
  std::cerr << "perfctl: " << line << std::endl;
  return static_cast<int>(code);
}

std::string GenerateId(const std::string& prefix) {
  std::random_device random;
  const uint32_t noise = random() & 0xffffff;
  return absl::StrCat(prefix, "-",
                      absl::FormatTime("%Y%m%dT%H%M%S", absl::Now(), absl::UTCTimeZone()), "-",
                      absl::StrFormat("%06x", noise));
}

std::string Examples(std::initializer_list<const char*> examples) {
  std::string footer = "\nExamples:";
  for (const char* example : examples) absl::StrAppend(&footer, "\n  ", example);
  return footer;
}

}  // namespace perfctl
