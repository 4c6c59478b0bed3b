// Errors and exit codes of perfctl.
//
// Every function in perfctl reports failure as an absl::Status. Three origins matter to the
// operator, and each maps to an exit code:
//   - the server refused or failed the request (its gRPC code and message, verbatim)  -> 1
//   - the input was wrong: a flag, a file, a row (detected locally, before any call) -> 2
//     (rows of an import that fail validation are data, not usage: they are reported and the
//     import exits 1)
//   - the server could not be reached or did not answer in time                      -> 3
// The origin travels as a status payload so that a locally detected INVALID_ARGUMENT is never
// confused with the server's.
#ifndef PERFLEDGER_TOOLS_PERFCTL_STATUS_H_
#define PERFLEDGER_TOOLS_PERFCTL_STATUS_H_

#include <string>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace perfctl {

enum class ExitCode : int {
  kOk = 0,
  kFailed = 1,       // the server reported an error, or rows were rejected
  kUsage = 2,        // bad flags, arguments or input files
  kUnavailable = 3,  // connection failure, UNAVAILABLE, CANCELLED by the server or the
                     // connection, or no answer within the deadline: outcome unknown
};

// A mistake in what the operator typed or pointed at. `message` names the flag or file.
absl::Status UsageError(std::string message);

// A failure already explained in the command's own output (e.g. "2 rows rejected"): printed
// without a status code name, exits 1.
absl::Status ReportedFailure(std::string message);

// Converts a gRPC status verbatim (the canonical codes are the same numbers).
absl::Status FromGrpc(const grpc::Status& status);

ExitCode ExitCodeFor(const absl::Status& status);

// The one line printed on stderr for a failed command, without the "perfctl: " prefix:
// "<what>: <CODE>: <message>", or "<what>: <message>" for local errors.
std::string DescribeFailure(const std::string& what, const absl::Status& status);

}  // namespace perfctl

// Debian's Abseil (20220623) has no status_macros.h.
#define PERFCTL_CONCAT_INNER_(a, b) a##b
#define PERFCTL_CONCAT_(a, b) PERFCTL_CONCAT_INNER_(a, b)

#define PERFCTL_RETURN_IF_ERROR(expr)              \
  do {                                             \
    if (absl::Status perfctl_status_ = (expr);     \
        !perfctl_status_.ok()) {                   \
      return perfctl_status_;                      \
    }                                              \
  } while (false)

#define PERFCTL_ASSIGN_OR_RETURN(lhs, expr) \
  PERFCTL_ASSIGN_OR_RETURN_IMPL_(PERFCTL_CONCAT_(perfctl_statusor_, __LINE__), lhs, expr)

#define PERFCTL_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return statusor.status();             \
  lhs = std::move(statusor).value()

#endif  // PERFLEDGER_TOOLS_PERFCTL_STATUS_H_
