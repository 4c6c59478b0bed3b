// What every subcommand shares: the global flags, the lazily opened connection, the output
// format, the flags common to all write commands, and the one action the command line selected.
//
// Subcommands register their flags on a CLI::App and, in the CLI11 callback that runs once
// parsing has succeeded, call Session::Select() with a description ("register employee E7") and
// the function to run. main() runs it and turns a failure into one line on stderr.
//
// Thread safety: none needed; perfctl runs one command on the main thread.
#ifndef PERFLEDGER_TOOLS_PERFCTL_SESSION_H_
#define PERFLEDGER_TOOLS_PERFCTL_SESSION_H_

#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "perfledger/v1/commands.pb.h"
#include "tools/perfctl/client.h"
#include "tools/perfctl/output.h"
#include "tools/perfctl/status.h"

namespace perfctl {

struct GlobalFlags {
  std::string server = "127.0.0.1:7411";
  std::string token;
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  std::string timeout = "10s";
  std::string output = "text";
};

// Flags of every write command (CommandMeta).
struct MetaFlags {
  std::string idempotency_key;
  std::string event_id;
  uint64_t expected_version = 0;
  CLI::Option* expected_version_option = nullptr;  // set: the flag was given
  std::string at;
  std::string correlation_id;
};

// Adds --idempotency-key, --event-id, --expected-version, --at, --correlation-id to `command`.
void AddMetaFlags(CLI::App* command, MetaFlags* flags);
// Validates the flags and builds the CommandMeta; usage errors name the flag.
absl::StatusOr<perfledger::v1::CommandMeta> BuildMeta(const MetaFlags& flags);

class Session {
 public:
  explicit Session(CLI::App* app);

  GlobalFlags& flags() { return flags_; }
  OutputFormat format() const {
    return flags_.output == "json" ? OutputFormat::kJson : OutputFormat::kText;
  }

  // Opens the channel on first use; later calls return the same connection.
  absl::StatusOr<Connection*> connection();

  // Records the command to run. Called from CLI11 callbacks, after parsing.
  void Select(std::string what, std::function<absl::Status()> run);
  bool selected() const { return static_cast<bool>(run_); }
  // Runs the selected command; on failure prints one line on stderr. Returns the exit code.
  int Run();

 private:
  GlobalFlags flags_;
  std::unique_ptr<Connection> connection_;
  std::string what_;
  std::function<absl::Status()> run_;
};

// Calls a unary RPC with a fresh context and converts its status.
template <typename Service, typename Request, typename Response>
absl::StatusOr<Response> CallUnary(
    Session& session,
    grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request) {
  PERFCTL_ASSIGN_OR_RETURN(Connection * connection, session.connection());
  auto stub = Service::NewStub(connection->channel());
  auto context = connection->NewContext();
  Response response;
  grpc::Status status = (stub.get()->*method)(context.get(), request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

// The whole life of a simple write command: call, then print the CommandResult (with `extras`).
template <typename Service, typename Request>
absl::Status SendCommand(Session& session,
                         grpc::Status (Service::Stub::*method)(grpc::ClientContext*,
                                                               const Request&,
                                                               perfledger::v1::CommandResult*),
                         const Request& request, const Extras& extras = {}) {
  PERFCTL_ASSIGN_OR_RETURN(perfledger::v1::CommandResult result,
                           (CallUnary<Service>(session, method, request)));
  PrintCommandResult(result, session.format(), std::cout, extras);
  return absl::OkStatus();
}

// A fresh id for entities the operator did not name (a check-in, a score): a UTC timestamp for
// readability plus randomness so two ids in the same second differ. e.g. "ci-20260131T0900-3fa9c1".
std::string GenerateId(const std::string& prefix);

// Joins `examples` (one per line) into a CLI11 footer.
std::string Examples(std::initializer_list<const char*> examples);

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_SESSION_H_
