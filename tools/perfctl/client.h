// The connection to perfledgerd: one gRPC channel plus the per-call settings every RPC shares
// (bearer token, deadline).
//
// Thread safety: a Connection is immutable after Open(); NewContext() may be called from any
// thread. Each ClientContext it returns belongs to exactly one call.
#ifndef PERFLEDGER_TOOLS_PERFCTL_CLIENT_H_
#define PERFLEDGER_TOOLS_PERFCTL_CLIENT_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace perfctl {

struct ConnectionOptions {
  // host:port of perfledgerd.
  std::string server = "127.0.0.1:7411";
  // Sent as "authorization: Bearer <token>" on every call when non-empty.
  std::string token;
  // TLS is used when `tls` is set or any of the files below is given. An empty CA file means
  // the system roots; cert and key together enable mutual TLS.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Overrides the name checked against the server certificate (e.g. when dialling an IP).
  std::string tls_server_name;
  // Deadline of each unary call, and the budget of one batch of a client stream.
  absl::Duration timeout = absl::Seconds(10);
};

class Connection {
 public:
  // Creates the channel; does not dial (gRPC connects on the first call, so an unreachable
  // server surfaces there as UNAVAILABLE). Fails with a usage error if a TLS file is missing or
  // only one of cert and key is given.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ConnectionOptions& options);

  // A context carrying the token and a deadline of `timeout` from now.
  std::unique_ptr<grpc::ClientContext> NewContext() const { return NewContext(timeout_); }
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;
  // A context without deadline, for streams that run until the operator stops them.
  std::unique_ptr<grpc::ClientContext> NewUnboundedContext() const;

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& server() const { return server_; }
  absl::Duration timeout() const { return timeout_; }

 private:
  Connection(std::shared_ptr<grpc::Channel> channel, std::string server, std::string token,
             absl::Duration timeout)
      : channel_(std::move(channel)),
        server_(std::move(server)),
        token_(std::move(token)),
        timeout_(timeout) {}

  std::shared_ptr<grpc::Channel> channel_;
  std::string server_;
  std::string token_;
  absl::Duration timeout_;
};

}  // namespace perfctl

#endif  // PERFLEDGER_TOOLS_PERFCTL_CLIENT_H_
