// perfctl's exit codes (tools/perfctl/status.h): the contract scripts rely on. 3 means "the
// outcome is unknown, retry with the same idempotency key", and a metric import resumes by
// itself on exactly those failures.
#include <catch2/catch.hpp>

#include "tools/perfctl/status.h"

namespace perfctl {
namespace {

TEST_CASE("perfctl exit codes: unknown outcomes are 3, refusals 1, usage errors 2",
          "[perfctl]") {
  CHECK(ExitCodeFor(absl::OkStatus()) == ExitCode::kOk);
  // The call may or may not have taken effect.
  CHECK(ExitCodeFor(absl::UnavailableError("server shutting down")) == ExitCode::kUnavailable);
  CHECK(ExitCodeFor(absl::DeadlineExceededError("no answer")) == ExitCode::kUnavailable);
  // A draining server (or a broken connection) ends calls with CANCELLED; perfctl's own
  // cancels (Ctrl-C, --max reached) never get this far.
  CHECK(ExitCodeFor(FromGrpc(grpc::Status(grpc::StatusCode::CANCELLED, "CANCELLED"))) ==
        ExitCode::kUnavailable);
  // The server decided: retrying the same request gets the same answer.
  CHECK(ExitCodeFor(absl::InvalidArgumentError("employee_id: required")) == ExitCode::kFailed);
  CHECK(ExitCodeFor(absl::AbortedError("expected_version")) == ExitCode::kFailed);
  CHECK(ExitCodeFor(absl::ResourceExhaustedError("batch")) == ExitCode::kFailed);
  CHECK(ExitCodeFor(ReportedFailure("2 rows rejected")) == ExitCode::kFailed);
  CHECK(ExitCodeFor(UsageError("--batch-size: must be 1..10000")) == ExitCode::kUsage);
}

TEST_CASE("perfctl failures are one line naming the code, local ones without it", "[perfctl]") {
  CHECK(DescribeFailure("register employee E7",
                        absl::InvalidArgumentError("base_salary.amount_minor: must be >= 0")) ==
        "register employee E7: INVALID_ARGUMENT: base_salary.amount_minor: must be >= 0");
  CHECK(DescribeFailure("connect", absl::UnavailableError("failed to connect\nto all addresses")) ==
        "connect: UNAVAILABLE: failed to connect; to all addresses");
  CHECK(DescribeFailure("", UsageError("--server: empty")) == "--server: empty");
}

}  // namespace
}  // namespace perfctl
