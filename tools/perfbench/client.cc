#include "tools/perfbench/client.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace perfbench {

absl::StatusOr<std::unique_ptr<Clients>> Clients::Connect(
    const ClientOptions& options, std::chrono::milliseconds connect_timeout) {
  std::unique_ptr<Clients> clients(
      new Clients(options.token.empty() ? std::string() : "Bearer " + options.token));
  const auto deadline = std::chrono::system_clock::now() + connect_timeout;
  for (uint32_t i = 0; i < std::max<uint32_t>(1, options.channels); ++i) {
    grpc::ChannelArguments args;
    // See ClientOptions::channels and channel_offset.
    args.SetInt("perfbench.channel", static_cast<int>(options.channel_offset + i));
    args.SetMaxReceiveMessageSize(16 << 20);
    Stubs s;
    s.channel = grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
    if (!s.channel->WaitForConnected(deadline)) {
      return absl::UnavailableError("cannot connect to " + options.target);
    }
    s.people = v1::People::NewStub(s.channel);
    s.cycles = v1::Cycles::NewStub(s.channel);
    s.goals = v1::Goals::NewStub(s.channel);
    s.check_ins = v1::CheckIns::NewStub(s.channel);
    s.metrics = v1::Metrics::NewStub(s.channel);
    s.reviews = v1::Reviews::NewStub(s.channel);
    s.log = v1::Log::NewStub(s.channel);
    s.views = v1::Views::NewStub(s.channel);
    s.policies = v1::Policies::NewStub(s.channel);
    s.generic = std::make_unique<grpc::GenericStub>(s.channel);
    clients->stubs_.push_back(std::move(s));
  }
  return clients;
}

void Clients::Prepare(grpc::ClientContext* context,
                      std::chrono::system_clock::time_point deadline) const {
  if (!token_header_.empty()) context->AddMetadata("authorization", token_header_);
  context->set_deadline(deadline);
}

absl::Status FromGrpc(const std::string& what, const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", CodeName(status.error_code()), ": ",
                                   status.error_message()));
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::DO_NOT_USE: break;
  }
  return "CODE_UNKNOWN";
}

}  // namespace perfbench
