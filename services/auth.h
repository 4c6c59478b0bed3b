// Authentication (bearer tokens → principal and role) and authorization (role → operations).
//
// Tokens live in a file of lines `<token> <principal> <role> [<employee_id>|-] [<org_units>]`
// ('#' comments). An employee or manager token must name its employee id: scope is resolved
// from it (ledger/access.h). The fifth column, hr only, limits the token to org subtrees
// (comma-separated unit ids). Load refuses a bad line, naming it, so the server does not start.
// Without a token file every caller is the principal "local" with role admin; the server only
// allows that on a loopback address (ARCHITECTURE §9: plaintext and trust only on loopback).
//
// Thread safety: immutable after Load; safe to share.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/server_context.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "ledger/access.h"
#include "perfledger/v1/common.pb.h"

namespace perfledger::services {

using perfledger::Principal;

// What a call wants to do; each RPC names one.
enum class Operation {
  kWritePeople,
  kWriteCycles,
  kWriteGoals,
  kWriteCheckIns,
  kWritePips,  // improvement plans: managers (in scope), hr and admin
  kWriteRecognition,  // praise and cases: people (the ledger decides whose), hr and admin
  kWriteMetrics,
  kWriteReviews,
  kWriteGrades,  // calibrate, finalize and compute grades: hr and admin
  kWriteTraining,
  kWritePolicies,
  kReadLog,
  kReadViews,
  kReadPolicies,
  kReadSubject,  // explain an action, export a subject's events: scoped to the caller
  kReadStatus,
  kConsumeHooks,
  kAudit,  // the Audit service: auditor and admin only
  kAdmin,
};

class Authenticator {
 public:
  // Empty path: trust every caller as "local" admin.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Load(const std::string& tokens_file);

  bool open() const { return tokens_.empty(); }

  // UNAUTHENTICATED when a token is required and missing or unknown.
  absl::StatusOr<Principal> Authenticate(const grpc::ServerContextBase& context) const;

 private:
  // Keyed by SHA-256 of the token, so lookups do not compare secrets byte by byte.
  absl::flat_hash_map<std::string, Principal> tokens_;
};

// PERMISSION_DENIED naming the role and the operation when the role may not do it.
absl::Status Authorize(const Principal& principal, Operation op);

// Which action kinds a principal may receive and answer on the Hooks service: payroll the
// salary adjustments and bonuses, the LMS the training, HR and admin every kind.
bool MayHandleAction(const Principal& principal, v1::ActionKind kind);

v1::Actor ToActor(const Principal& principal);

}  // namespace perfledger::services
