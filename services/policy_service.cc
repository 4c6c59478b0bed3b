// Policies: publish, read, compute grades, dry-run the reactor, fire deadlines. Thin adapters
// over ledger/ (publishing) and projections/reactor.h (everything that needs folded state).
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "ledger/limits.h"
#include "services/server.h"
#include "services/status_map.h"

namespace perfledger::services {
namespace {

absl::Time CallDeadline(grpc::ServerContext* c) {
  // A call without a deadline still gets a bound: these calls wait for the reactor.
  return std::min(absl::FromChrono(c->deadline()),
                  absl::Now() + absl::Seconds(limits::kPolicyCallWaitSecondsMax));
}

class PoliciesService final : public v1::Policies::Service {
 public:
  explicit PoliciesService(ServiceDeps* deps) : deps_(deps) {}

  grpc::Status PublishPolicy(grpc::ServerContext* c, const v1::PublishPolicyRequest* r,
                             v1::CommandResult* out) override {
    auto ctx = Context(c, Operation::kWritePolicies);
    if (!ctx.ok()) return ToGrpc(ctx.status());
    auto result = deps_->ledger->PublishPolicy(*r, *ctx);
    if (!result.ok()) return ToGrpc(result.status());
    *out = std::move(*result);
    return grpc::Status::OK;
  }

  grpc::Status GetPolicy(grpc::ServerContext* c, const v1::GetPolicyRequest* r,
                         v1::PolicyInfo* out) override {
    auto ctx = Context(c, Operation::kReadPolicies);
    if (!ctx.ok()) return ToGrpc(ctx.status());
    if (absl::Status s = WaitForPolicies(c, r->consistency()); !s.ok()) return ToGrpc(s);
    auto result = deps_->reactor->GetPolicy(r->version());
    if (absl::IsNotFound(result.status()) && r->consistency().min_position().empty()) {
      // Published a moment ago, perhaps: look again once the reactor has the log as of now.
      if (deps_->reactor->projector().WaitCaughtUp(ConsistencyDeadline(c)).ok()) {
        result = deps_->reactor->GetPolicy(r->version());
      }
    }
    if (!result.ok()) return ToGrpc(result.status());
    *out = std::move(*result);
    return grpc::Status::OK;
  }

  grpc::Status ListPolicies(grpc::ServerContext* c, const v1::ListPoliciesRequest* r,
                            v1::ListPoliciesResponse* out) override {
    auto ctx = Context(c, Operation::kReadPolicies);
    if (!ctx.ok()) return ToGrpc(ctx.status());
    if (absl::Status s = WaitForPolicies(c, r->consistency()); !s.ok()) return ToGrpc(s);
    auto result = deps_->reactor->ListPolicies();
    if (!result.ok()) return ToGrpc(result.status());
    *out = std::move(*result);
    return grpc::Status::OK;
  }

  grpc::Status ComputeGrades(grpc::ServerContext* c, const v1::ComputeGradesRequest* r,
                             v1::ComputeGradesResponse* out) override {
    auto ctx = Context(c, Operation::kWriteGrades);
    if (!ctx.ok()) return ToGrpc(ctx.status());
    auto result = deps_->reactor->ComputeGrades(*r, *ctx, CallDeadline(c));
    if (!result.ok()) return ToGrpc(result.status());
    // A limited hr token sees the grades of its subtrees only.
    Viewer viewer(*deps_->access, ctx->principal);
    auto* grades = result->mutable_grades();
    for (int i = grades->size() - 1; i >= 0; i--) {
      if (!viewer.InScope(Subject::Employee(grades->Get(i).employee_id()))) {
        grades->DeleteSubrange(i, 1);
      }
    }
    *out = std::move(*result);
    return grpc::Status::OK;
  }

  grpc::Status DryRun(grpc::ServerContext* c, const v1::DryRunRequest*,
                      v1::DryRunResponse* out) override {
    // Every recorded action in full: the auditor's proof, not a scoped read.
    auto ctx = Context(c, Operation::kAudit);
    if (!ctx.ok()) return ToGrpc(ctx.status());
    const std::string scratch =
        (std::filesystem::path(deps_->config->data_dir) / "scratch" /
         absl::StrCat("dryrun-", absl::ToUnixMicros(absl::Now())))
            .string();
    auto result = projections::Reactor::DryRun(deps_->log, deps_->access->sealer(), scratch,
                                               CallDeadline(c));
    if (!result.ok()) return ToGrpc(result.status());
    *out = std::move(*result);
    return grpc::Status::OK;
  }

  grpc::Status FireDeadlines(grpc::ServerContext* c, const v1::FireDeadlinesRequest* r,
                             v1::FireDeadlinesResponse* out) override {
    auto ctx = Context(c, Operation::kAdmin);
    if (!ctx.ok()) return ToGrpc(ctx.status());
    const absl::Time now = r->has_now() ? absl::FromUnixSeconds(r->now().seconds()) : absl::Now();
    auto result = deps_->reactor->FireDeadlines(now, *ctx, CallDeadline(c));
    if (!result.ok()) return ToGrpc(result.status());
    *out = std::move(*result);
    return grpc::Status::OK;
  }

 private:
  static absl::Time ConsistencyDeadline(grpc::ServerContext* c) {
    return std::min(absl::FromChrono(c->deadline()),
                    absl::Now() + absl::Milliseconds(limits::kConsistencyWaitMillisMax));
  }

  // Read-your-writes for policy reads: the policies live in the reactor's state.
  absl::Status WaitForPolicies(grpc::ServerContext* c, const v1::Consistency& consistency) {
    if (consistency.min_position().empty()) return absl::OkStatus();
    std::vector<LogPosition> positions;
    for (const v1::Position& pos : consistency.min_position()) positions.push_back(PositionOf(pos));
    return deps_->reactor->projector().WaitFor(positions, ConsistencyDeadline(c));
  }

  absl::StatusOr<CommandContext> Context(grpc::ServerContext* c, Operation op) {
    auto principal = deps_->auth->Authenticate(*c);
    if (!principal.ok()) return principal.status();
    if (absl::Status s = Authorize(*principal, op); !s.ok()) return s;
    return CallerContext(*principal, *c);
  }

  ServiceDeps* deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakePoliciesService(ServiceDeps* deps) {
  return std::make_unique<PoliciesService>(deps);
}

}  // namespace perfledger::services
