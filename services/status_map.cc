#include "services/status_map.h"

#include <mutex>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace perfledger::services {
namespace {

// The field protobuf last reported as invalid UTF-8 on this thread ("" = none). The server
// parses a request and, when that fails, sends its status on the same thread (sync and callback
// handlers alike), so the interceptor below finds the field of its own call here.
thread_local std::string invalid_utf8_field;

google::protobuf::LogHandler* previous_log_handler = nullptr;

// Protobuf logs "String field 'perfledger.v1.RecordFeedbackRequest.feedback' contains invalid
// UTF-8 data when parsing a protocol buffer. ..." before the parse fails.
void CaptureUtf8Errors(google::protobuf::LogLevel level, const char* filename, int line,
                       const std::string& message) {
  constexpr absl::string_view kPrefix = "String field '";
  if (absl::StartsWith(message, kPrefix) && absl::StrContains(message, "invalid UTF-8") &&
      absl::StrContains(message, "when parsing")) {
    const absl::string_view rest = absl::string_view(message).substr(kPrefix.size());
    const absl::string_view full = rest.substr(0, rest.find('\''));
    // "package.Message.field" → "field": the request's own field, or a nested message's.
    invalid_utf8_field = std::string(full.substr(full.rfind('.') + 1));
  }
  if (previous_log_handler != nullptr) previous_log_handler(level, filename, line, message);
}

// How gRPC answers a request that does not parse: a sync handler with INTERNAL, a callback
// handler with UNIMPLEMENTED, both without a message. Our own errors always carry one, and an
// unknown method never reaches a unary interceptor (gRPC serves it as a generic bidi stream).
bool IsParseFailure(const grpc::Status& status, grpc::experimental::ServerRpcInfo::Type type) {
  if (!status.error_message().empty()) return false;
  return status.error_code() == grpc::StatusCode::INTERNAL ||
         (status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          type == grpc::experimental::ServerRpcInfo::Type::UNARY);
}

class ParseErrorInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit ParseErrorInterceptor(grpc::experimental::ServerRpcInfo::Type type) : type_(type) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const std::string field = TakeInvalidUtf8Field();  // consumed by this call either way
      if (IsParseFailure(status, type_)) {
        methods->ModifySendStatus(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            field.empty() ? "request: the message does not parse (malformed protobuf)"
                          : absl::StrCat(field, ": not valid UTF-8 (string fields must be "
                                                "UTF-8; nothing was written)")));
      }
    }
    methods->Proceed();
  }

 private:
  const grpc::experimental::ServerRpcInfo::Type type_;
};

class ParseErrorInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new ParseErrorInterceptor(info->type());
  }
};

}  // namespace

std::string TakeInvalidUtf8Field() {
  std::string field;
  field.swap(invalid_utf8_field);
  return field;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeParseErrorInterceptorFactory() {
  static std::once_flag installed;
  std::call_once(installed, [] {
    previous_log_handler = google::protobuf::SetLogHandler(&CaptureUtf8Errors);
  });
  return std::make_unique<ParseErrorInterceptorFactory>();
}

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return grpc::StatusCode::OK;
    case absl::StatusCode::kCancelled: return grpc::StatusCode::CANCELLED;
    case absl::StatusCode::kUnknown: return grpc::StatusCode::UNKNOWN;
    case absl::StatusCode::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case absl::StatusCode::kDeadlineExceeded: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case absl::StatusCode::kAlreadyExists: return grpc::StatusCode::ALREADY_EXISTS;
    case absl::StatusCode::kPermissionDenied: return grpc::StatusCode::PERMISSION_DENIED;
    case absl::StatusCode::kResourceExhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case absl::StatusCode::kFailedPrecondition: return grpc::StatusCode::FAILED_PRECONDITION;
    case absl::StatusCode::kAborted: return grpc::StatusCode::ABORTED;
    case absl::StatusCode::kOutOfRange: return grpc::StatusCode::OUT_OF_RANGE;
    case absl::StatusCode::kUnimplemented: return grpc::StatusCode::UNIMPLEMENTED;
    case absl::StatusCode::kInternal: return grpc::StatusCode::INTERNAL;
    case absl::StatusCode::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kDataLoss: return grpc::StatusCode::DATA_LOSS;
    case absl::StatusCode::kUnauthenticated: return grpc::StatusCode::UNAUTHENTICATED;
    case absl::StatusCode::kDoNotUseReservedForFutureExpansionUseDefaultInSwitchInstead_:
      break;
  }
  return grpc::StatusCode::UNKNOWN;
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(ToGrpcCode(status.code()), std::string(status.message()));
}

}  // namespace perfledger::services
