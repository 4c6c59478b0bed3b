#include "tools/perfctl/client.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tools/perfctl/status.h"

namespace perfctl {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return UsageError(absl::StrCat(flag, ": cannot read '", path, "'"));
  std::ostringstream content;
  content << in.rdbuf();
  if (content.str().empty()) return UsageError(absl::StrCat(flag, ": '", path, "' is empty"));
  return content.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectionOptions& options) {
  if (options.server.empty()) return UsageError("--server: empty address");
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return UsageError("--tls-cert and --tls-key: give both for mutual TLS, or neither");
  }

  grpc::ChannelArguments args;
  args.SetUserAgentPrefix("perfctl/0.1");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  const bool tls = options.tls || !options.tls_ca_file.empty() || !options.tls_cert_file.empty();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      PERFCTL_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem("--tls-ca", options.tls_ca_file));
    }
    if (!options.tls_cert_file.empty()) {
      PERFCTL_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem("--tls-cert", options.tls_cert_file));
      PERFCTL_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem("--tls-key", options.tls_key_file));
    }
    if (!options.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls_server_name);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  auto channel = grpc::CreateCustomChannel(options.server, credentials, args);
  if (channel == nullptr) {
    return UsageError(absl::StrCat("--server: cannot create a channel to '", options.server, "'"));
  }
  return std::unique_ptr<Connection>(
      new Connection(std::move(channel), options.server, options.token, options.timeout));
}

std::unique_ptr<grpc::ClientContext> Connection::NewContext(absl::Duration timeout) const {
  auto context = NewUnboundedContext();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

std::unique_ptr<grpc::ClientContext> Connection::NewUnboundedContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  // Metadata rather than grpc::AccessTokenCredentials: the latter refuses to send a token over a
  // plaintext channel, and the design allows plaintext on loopback.
  if (!token_.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  return context;
}

}  // namespace perfctl
