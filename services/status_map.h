// The one place absl::Status becomes grpc::Status. The canonical codes are the same numbers;
// the mapping is still an exhaustive switch so a new code is a compile-time decision.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace perfledger::services {

grpc::StatusCode ToGrpcCode(absl::StatusCode code);
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace perfledger::services
