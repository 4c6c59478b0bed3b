#include "services/auth.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "ledger/validation.h"

namespace perfledger::services {
namespace {

absl::StatusOr<v1::Role> ParseRole(const std::string& name) {
  static const auto* kRoles = new absl::flat_hash_map<std::string, v1::Role>{
      {"employee", v1::ROLE_EMPLOYEE}, {"manager", v1::ROLE_MANAGER}, {"hr", v1::ROLE_HR},
      {"payroll", v1::ROLE_PAYROLL},   {"lms", v1::ROLE_LMS},         {"auditor", v1::ROLE_AUDITOR},
      {"admin", v1::ROLE_ADMIN},       {"system", v1::ROLE_SYSTEM}};
  auto it = kRoles->find(name);
  if (it == kRoles->end()) return absl::InvalidArgumentError(absl::StrCat("unknown role ", name));
  return it->second;
}

const char* OperationName(Operation op) {
  switch (op) {
    case Operation::kWritePeople: return "write people";
    case Operation::kWriteCycles: return "write cycles";
    case Operation::kWriteGoals: return "write goals";
    case Operation::kWriteCheckIns: return "write check-ins";
    case Operation::kWritePips: return "write improvement plans";
    case Operation::kWriteRecognition: return "write recognition";
    case Operation::kWriteMetrics: return "write metrics";
    case Operation::kWriteReviews: return "write reviews";
    case Operation::kWriteGrades: return "calibrate or finalize grades";
    case Operation::kWriteTraining: return "write training";
    case Operation::kWritePolicies: return "publish policies";
    case Operation::kReadLog: return "read the log";
    case Operation::kReadViews: return "read views";
    case Operation::kReadPolicies: return "read policies";
    case Operation::kReadSubject: return "explain or export a subject's records";
    case Operation::kReadStatus: return "read status";
    case Operation::kConsumeHooks: return "consume hooks";
    case Operation::kAudit: return "audit the log";
    case Operation::kAdmin: return "administer the server";
  }
  return "unknown";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Load(const std::string& path) {
  auto auth = std::make_unique<Authenticator>();
  if (path.empty()) return auth;
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("tokens_file: cannot read ", path));
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    number++;
    const std::string view(absl::StripAsciiWhitespace(line));
    if (view.empty() || view[0] == '#') continue;
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat("tokens_file: ", path, ":", number, ": ", why));
    };
    std::vector<std::string> parts = absl::StrSplit(view, ' ', absl::SkipEmpty());
    if (parts.size() < 3 || parts.size() > 5) {
      return bad("expected <token> <principal> <role> [<employee_id>|-] [<org_units>]");
    }
    auto role = ParseRole(parts[2]);
    if (!role.ok()) return bad(std::string(role.status().message()));
    Principal p{parts[1], *role, "", {}};
    if (parts.size() >= 4 && parts[3] != "-") {
      if (absl::Status s = CheckId("employee_id", parts[3], Presence::kRequired); !s.ok()) {
        return bad(std::string(s.message()));
      }
      p.employee_id = parts[3];
    }
    if ((*role == v1::ROLE_EMPLOYEE || *role == v1::ROLE_MANAGER) && p.employee_id.empty()) {
      return bad(absl::StrCat("an ", parts[2],
                              " token must name its employee id (4th column): scope comes from it"));
    }
    if (parts.size() == 5) {
      if (*role != v1::ROLE_HR) {
        return bad("only an hr token may be limited to org units (5th column)");
      }
      const std::vector<std::string> units = absl::StrSplit(parts[4], ',', absl::SkipEmpty());
      for (const std::string& unit : units) {
        if (absl::Status s = CheckId("org_units", unit, Presence::kRequired); !s.ok()) {
          return bad(std::string(s.message()));
        }
        p.org_units.emplace_back(unit);
      }
      if (p.org_units.empty() || p.org_units.size() > limits::kTokenOrgUnitsMax) {
        return bad(absl::StrCat("org_units: 1 to ", limits::kTokenOrgUnitsMax, " unit ids"));
      }
    }
    if (auth->tokens_.size() >= limits::kTokensMax) {
      return absl::ResourceExhaustedError(absl::StrCat("tokens_file: more than ",
                                                       limits::kTokensMax, " tokens"));
    }
    if (!auth->tokens_.emplace(Sha256(parts[0]), std::move(p)).second) {
      return bad("the token appears twice");
    }
  }
  return auth;
}

absl::StatusOr<Principal> Authenticator::Authenticate(
    const grpc::ServerContextBase& context) const {
  if (tokens_.empty()) return Principal{"local", v1::ROLE_ADMIN, "", {}};
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("authorization: a bearer token is required");
  }
  std::string value(it->second.data(), it->second.size());
  if (!absl::StartsWithIgnoreCase(value, "bearer ")) {
    return absl::UnauthenticatedError("authorization: expected 'Bearer <token>'");
  }
  auto found = tokens_.find(Sha256(value.substr(7)));
  if (found == tokens_.end()) return absl::UnauthenticatedError("authorization: unknown token");
  return found->second;
}

absl::Status Authorize(const Principal& principal, Operation op) {
  using O = Operation;
  bool allowed = false;
  switch (principal.role) {
    case v1::ROLE_ADMIN:
      allowed = true;
      break;
    case v1::ROLE_HR:
      allowed = op != O::kAdmin && op != O::kAudit;
      break;
    case v1::ROLE_MANAGER:
    case v1::ROLE_EMPLOYEE:
      // What they may write about whom is decided with the write model (ledger/access.h);
      // reads are scoped and redacted row by row. Improvement plans are the manager's;
      // recognition is everyone's (the ledger decides who may praise, nominate or consent).
      allowed = op == O::kWriteGoals || op == O::kWriteCheckIns || op == O::kWriteReviews ||
                op == O::kReadViews || op == O::kReadPolicies || op == O::kReadSubject ||
                op == O::kReadStatus || op == O::kWriteRecognition ||
                (op == O::kWritePips && principal.role == v1::ROLE_MANAGER);
      break;
    case v1::ROLE_SYSTEM:
      allowed = op == O::kWriteMetrics || op == O::kReadStatus;
      break;
    case v1::ROLE_LMS:
      allowed = op == O::kWriteTraining || op == O::kReadStatus || op == O::kConsumeHooks ||
                op == O::kReadViews;
      break;
    case v1::ROLE_PAYROLL:
      allowed = op == O::kReadStatus || op == O::kConsumeHooks || op == O::kReadViews;
      break;
    case v1::ROLE_AUDITOR:
      allowed = op == O::kReadLog || op == O::kReadViews || op == O::kReadPolicies ||
                op == O::kReadSubject || op == O::kReadStatus || op == O::kAudit;
      break;
    default:
      allowed = false;
  }
  if (allowed) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("role ", v1::Role_Name(principal.role),
                                                  " may not ", OperationName(op)));
}

bool MayHandleAction(const Principal& principal, v1::ActionKind kind) {
  switch (principal.role) {
    case v1::ROLE_ADMIN:
    case v1::ROLE_HR:
      return true;
    case v1::ROLE_PAYROLL:
      return kind == v1::ACTION_KIND_SALARY_ADJUSTMENT || kind == v1::ACTION_KIND_BONUS;
    case v1::ROLE_LMS:
      return kind == v1::ACTION_KIND_TRAINING;
    default:
      return false;
  }
}

v1::Actor ToActor(const Principal& principal) {
  v1::Actor actor;
  actor.set_principal(principal.name);
  actor.set_role(principal.role);
  actor.set_employee_id(principal.employee_id);
  return actor;
}

}  // namespace perfledger::services
