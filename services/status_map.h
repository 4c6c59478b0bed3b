// The one place absl::Status becomes grpc::Status. The canonical codes are the same numbers;
// the mapping is still an exhaustive switch so a new code is a compile-time decision.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace perfledger::services {

grpc::StatusCode ToGrpcCode(absl::StatusCode code);
grpc::Status ToGrpc(const absl::Status& status);

// A request whose bytes do not parse never reaches a handler: gRPC answers it without a message,
// INTERNAL from a sync handler and UNIMPLEMENTED from a callback one. The usual cause is a string field holding invalid UTF-8, which proto3 rejects
// while parsing, and protobuf names that field only in its error log. This interceptor turns
// such an answer into INVALID_ARGUMENT naming the field ("feedback: not valid UTF-8 ..."), or,
// for other malformed bytes, INVALID_ARGUMENT saying the request did not parse. Install once
// per process (it chains protobuf's log handler) and add the factory to the server builder.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeParseErrorInterceptorFactory();

// The field protobuf last reported as not valid UTF-8 while parsing on this thread, or "" (and
// forgets it). A server stream's Read returns false both at the client's half-close and for a
// message that does not parse; a handler tells them apart with this.
std::string TakeInvalidUtf8Field();

}  // namespace perfledger::services
