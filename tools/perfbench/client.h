// Connections to perfledgerd: one set of service stubs per gRPC channel, and the per-call context.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"

namespace perfbench {

namespace v1 = ::perfledger::v1;

struct ClientOptions {
  std::string target = "127.0.0.1:7411";
  // Bearer token sent as "authorization: Bearer <token>"; empty sends no header.
  std::string token;
  // Distinct TCP connections. gRPC shares one connection between channels with equal arguments,
  // so each channel gets its own argument to force its own connection, as separate clients have.
  uint32_t channels = 1;
  // Added to each channel's distinguishing argument. A second Clients with another offset gets
  // connections of its own instead of sharing the first one's (the lag probe does not queue
  // behind the load's large batches on the same HTTP/2 connection).
  uint32_t channel_offset = 0;
};

// The stubs of every service on one channel. Stubs are thread-safe.
struct Stubs {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::People::Stub> people;
  std::unique_ptr<v1::Cycles::Stub> cycles;
  std::unique_ptr<v1::Goals::Stub> goals;
  std::unique_ptr<v1::CheckIns::Stub> check_ins;
  std::unique_ptr<v1::Metrics::Stub> metrics;
  std::unique_ptr<v1::Reviews::Stub> reviews;
  std::unique_ptr<v1::Log::Stub> log;
  std::unique_ptr<v1::Views::Stub> views;
  std::unique_ptr<v1::Policies::Stub> policies;
  // Untyped calls by method name (the health check of --scenario ping).
  std::unique_ptr<grpc::GenericStub> generic;
};

// Thread safety: all methods are const and safe to call from any thread.
class Clients {
 public:
  // Opens `options.channels` channels (insecure: perfbench only talks to loopback servers) and
  // waits up to `connect_timeout` for each to connect. UNAVAILABLE when one does not.
  static absl::StatusOr<std::unique_ptr<Clients>> Connect(const ClientOptions& options,
                                                         std::chrono::milliseconds connect_timeout);

  size_t size() const { return stubs_.size(); }
  const Stubs& at(size_t i) const { return stubs_[i % stubs_.size()]; }

  // Sets the token header and the deadline on a fresh context.
  void Prepare(grpc::ClientContext* context,
               std::chrono::system_clock::time_point deadline) const;

 private:
  explicit Clients(std::string token) : token_header_(std::move(token)) {}

  std::string token_header_;  // "Bearer <token>" or empty
  std::vector<Stubs> stubs_;
};

// "OK", "UNAVAILABLE", ... for reports.
const char* CodeName(grpc::StatusCode code);

// A failed call as an absl::Status of the same code: "<what>: <CODE>: <message>".
absl::Status FromGrpc(const std::string& what, const grpc::Status& status);

}  // namespace perfbench
