// services/status_map: the one place absl::Status becomes grpc::Status.
#include <catch2/catch.hpp>

#include "services/status_map.h"

namespace perfledger::services {
namespace {

TEST_CASE("status_map: every absl code maps to the same-numbered grpc code", "[status_map]") {
  // absl::StatusCode 0..16 are the canonical codes; gRPC numbers them identically.
  for (int code = 0; code <= 16; code++) {
    INFO("code " << code);
    CHECK(static_cast<int>(ToGrpcCode(static_cast<absl::StatusCode>(code))) == code);
  }
  CHECK(ToGrpcCode(absl::StatusCode::kAborted) == grpc::StatusCode::ABORTED);
  CHECK(ToGrpcCode(absl::StatusCode::kUnauthenticated) == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(ToGrpcCode(absl::StatusCode::kDataLoss) == grpc::StatusCode::DATA_LOSS);
  // A number outside the canonical set is UNKNOWN, never a random code.
  CHECK(ToGrpcCode(static_cast<absl::StatusCode>(42)) == grpc::StatusCode::UNKNOWN);
}

TEST_CASE("status_map: ToGrpc keeps the message", "[status_map]") {
  CHECK(ToGrpc(absl::OkStatus()).ok());
  const grpc::Status s = ToGrpc(absl::NotFoundError("employee_id: employee E9 not found"));
  CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(s.error_message() == "employee_id: employee E9 not found");
  const grpc::Status t = ToGrpc(absl::AbortedError("meta.expected_version: stale"));
  CHECK(t.error_code() == grpc::StatusCode::ABORTED);
  CHECK(t.error_message() == "meta.expected_version: stale");
}

}  // namespace
}  // namespace perfledger::services
