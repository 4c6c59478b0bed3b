#include "tools/perfctl/status.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace perfctl {
namespace {

// Payload key marking a status created by perfctl itself; the value says which kind.
constexpr char kOriginUrl[] = "perfctl/origin";
constexpr char kUsage[] = "usage";
constexpr char kReported[] = "reported";

absl::Status Local(const char* kind, absl::StatusCode code, std::string message) {
  absl::Status status(code, message);
  status.SetPayload(kOriginUrl, absl::Cord(kind));
  return status;
}

std::string LocalKind(const absl::Status& status) {
  auto payload = status.GetPayload(kOriginUrl);
  return payload.has_value() ? std::string(*payload) : std::string();
}

}  // namespace

absl::Status UsageError(std::string message) {
  return Local(kUsage, absl::StatusCode::kInvalidArgument, std::move(message));
}

absl::Status ReportedFailure(std::string message) {
  return Local(kReported, absl::StatusCode::kFailedPrecondition, std::move(message));
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

ExitCode ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return ExitCode::kOk;
  const std::string kind = LocalKind(status);
  if (kind == kUsage) return ExitCode::kUsage;
  if (kind == kReported) return ExitCode::kFailed;
  // A deadline counts with the connection failures: the outcome is unknown and a retry (with
  // the same idempotency key) is the right reaction, exactly as for UNAVAILABLE. So does
  // CANCELLED: perfctl cancels its own calls only on Ctrl-C or once it has read enough, and
  // those commands end before asking for an exit code, so a cancelled call is one that a server
  // shutting down (or the connection) ended. A metric import retried UNAVAILABLE "server
  // shutting down", and then stopped at the CANCELLED its next attempt met during the drain.
  if (status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kDeadlineExceeded ||
      status.code() == absl::StatusCode::kCancelled) {
    return ExitCode::kUnavailable;
  }
  return ExitCode::kFailed;
}

std::string DescribeFailure(const std::string& what, const absl::Status& status) {
  // gRPC's connection errors can span lines; the contract is one line per failure.
  std::string message = absl::StrReplaceAll(status.message(), {{"\r", ""}, {"\n", "; "}});
  std::string prefix = what.empty() ? "" : absl::StrCat(what, ": ");
  if (!LocalKind(status).empty()) return absl::StrCat(prefix, message);
  return absl::StrCat(prefix, absl::StatusCodeToString(status.code()), ": ", message);
}

}  // namespace perfctl
