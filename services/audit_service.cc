// The Audit service (proto/perfledger/v1/audit.proto). Thin: authorize (auditor, admin),
// validate the stream settings, call the domain (ledger/chain_audit.h, projections/audit.h),
// stream progress and the result.
#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/chain_audit.h"
#include "ledger/limits.h"
#include "perfledger/v1/audit.grpc.pb.h"
#include "projections/audit.h"
#include "services/server.h"
#include "services/status_map.h"
#include "services/unseal.h"

namespace perfledger::services {
namespace {

// An action appended a moment ago may not be indexed yet: wait this long for the projector.
constexpr absl::Duration kIndexWaitMax = absl::Milliseconds(limits::kIndexWaitMillisMax);

absl::StatusOr<uint64_t> ProgressEvery(uint64_t requested) {
  if (requested > limits::kAuditProgressEveryMax) {
    return absl::InvalidArgumentError(
        absl::StrFormat("progress_every: at most %d", limits::kAuditProgressEveryMax));
  }
  return requested == 0 ? limits::kAuditProgressEveryDefault : requested;
}

class AuditService final : public v1::Audit::Service {
 public:
  explicit AuditService(ServiceDeps* deps) : deps_(deps) {}

  grpc::Status VerifyChain(grpc::ServerContext* c, const v1::VerifyChainRequest* q,
                           grpc::ServerWriter<v1::ChainCheckResponse>* w) override {
    if (grpc::Status s = Check(c); !s.ok()) return s;
    auto every = ProgressEvery(q->progress_every());
    if (!every.ok()) return ToGrpc(every.status());
    return Stream(c, w, perfledger::VerifyChain(*deps_->log, Options(c, w, *every)));
  }

  grpc::Status GetDigest(grpc::ServerContext* c, const v1::GetDigestRequest*,
                         v1::LogDigest* out) override {
    if (grpc::Status s = Check(c); !s.ok()) return s;
    auto digest = TakeDigest(*deps_->log);
    if (!digest.ok()) return ToGrpc(digest.status());
    *out = std::move(*digest);
    return grpc::Status::OK;
  }

  grpc::Status ProveDigest(grpc::ServerContext* c, const v1::ProveDigestRequest* q,
                           grpc::ServerWriter<v1::ChainCheckResponse>* w) override {
    if (grpc::Status s = Check(c); !s.ok()) return s;
    auto every = ProgressEvery(q->progress_every());
    if (!every.ok()) return ToGrpc(every.status());
    return Stream(c, w, perfledger::ProveDigest(*deps_->log, q->digest(), Options(c, w, *every)));
  }

  grpc::Status AsOf(grpc::ServerContext* c, const v1::AsOfRequest* q,
                    grpc::ServerWriter<v1::AsOfResponse>* w) override {
    auto viewer = ViewerFor(c, Operation::kAudit);
    if (!viewer.ok()) return ToGrpc(viewer.status());
    auto every = ProgressEvery(q->progress_every());
    if (!every.ok()) return ToGrpc(every.status());
    projections::AsOfOptions options;
    // A fresh directory per call under the data dir; AsOf deletes it whatever happens.
    options.scratch_dir =
        (std::filesystem::path(deps_->config->data_dir) / "scratch" /
         absl::StrCat("asof-", absl::ToUnixNanos(absl::Now()), "-", next_scratch_.fetch_add(1)))
            .string();
    uint64_t next_report = *every;
    options.progress = [&](uint64_t done, uint64_t total) {
      if (c->IsCancelled() || deps_->stopping.load()) return false;
      if (done < next_report) return true;
      next_report = (done / *every + 1) * *every;
      v1::AsOfResponse r;
      r.mutable_progress()->set_events_done(done);
      r.mutable_progress()->set_events_total(total);
      return w->Write(r);
    };
    auto answer = projections::AsOf(*deps_->log, *q, options);
    if (!answer.ok()) return ToGrpc(answer.status());
    // Replayed views keep sealed fields sealed; open them as every other read path does.
    Viewer& v = **viewer;
    if (answer->has_timeline()) {
      for (v1::RecordedEvent& e : *answer->mutable_timeline()->mutable_events()) {
        RedactRecorded(v, e);
      }
    }
    if (answer->has_check_ins()) UnsealCheckIns(v, answer->mutable_check_ins()->mutable_entries());
    if (answer->has_payroll_items()) {
      UnsealPayroll(v, answer->mutable_payroll_items()->mutable_items());
    }
    v1::AsOfResponse r;
    *r.mutable_answer() = std::move(*answer);
    if (!w->Write(r)) return grpc::Status::CANCELLED;
    return grpc::Status::OK;
  }

  grpc::Status Explain(grpc::ServerContext* c, const v1::ExplainRequest* q,
                       v1::ExplainResponse* out) override {
    auto viewer = ViewerFor(c, Operation::kReadSubject);
    if (!viewer.ok()) return ToGrpc(viewer.status());
    projections::Projector& p = *deps_->projector;
    auto explained = projections::Explain(*deps_->log, p, *q);
    if (explained.status().code() == absl::StatusCode::kNotFound) {
      const absl::Time deadline =
          std::min(absl::FromChrono(c->deadline()), absl::Now() + kIndexWaitMax);
      if (p.WaitCaughtUp(deadline).ok()) explained = projections::Explain(*deps_->log, p, *q);
    }
    if (!explained.ok()) return ToGrpc(explained.status());
    // The action's subject decides whether the caller may have the explanation at all; each
    // step is then redacted like any event read from the log.
    if (!(*viewer)->SeesEverything() && !explained->steps().empty()) {
      const v1::RecordedEvent& action = explained->steps(0).event();
      const Subject subject = SubjectOf(action.envelope(), action.event(), *deps_->access);
      if (!(*viewer)->Visible(v1::FIELD_CLASS_EVALUATION, subject)) {
        return ToGrpc(absl::PermissionDeniedError(
            absl::StrCat(q->action_id().empty() ? "grade_event_id: " : "action_id: ",
                         q->action_id().empty() ? q->grade_event_id() : q->action_id(),
                         " is about someone outside the caller's scope")));
      }
      auto* steps = explained->mutable_steps();
      for (int i = steps->size() - 1; i >= 0; i--) {
        v1::ExplainStep* step = steps->Mutable(i);
        if (!RedactRecorded(**viewer, *step->mutable_event())) {
          steps->DeleteSubrange(i, 1);
          continue;
        }
        if (step->has_observations() &&
            !(*viewer)->Visible(v1::FIELD_CLASS_METRICS,
                                Subject::Employee(step->observations().employee_id()))) {
          step->clear_observations();
        }
      }
    }
    *out = std::move(*explained);
    return grpc::Status::OK;
  }

  grpc::Status ListObservations(grpc::ServerContext* c, const v1::ListObservationsRequest* q,
                                v1::ListObservationsResponse* out) override {
    auto viewer = ViewerFor(c, Operation::kReadSubject);
    if (!viewer.ok()) return ToGrpc(viewer.status());
    if (!(*viewer)->Visible(v1::FIELD_CLASS_METRICS, Subject::Employee(q->employee_id()))) {
      return ToGrpc(absl::PermissionDeniedError(
          absl::StrCat("employee_id: ", q->employee_id(), " is outside the caller's scope")));
    }
    auto listed = projections::ListObservations(*deps_->projector, *q);
    if (!listed.ok()) return ToGrpc(listed.status());
    *out = std::move(*listed);
    return grpc::Status::OK;
  }

  grpc::Status Export(grpc::ServerContext* c, const v1::ExportRequest* q,
                      grpc::ServerWriter<v1::RecordedEvent>* w) override {
    auto viewer = ViewerFor(c, Operation::kReadSubject);
    if (!viewer.ok()) return ToGrpc(viewer.status());
    Viewer& v = **viewer;
    // A subject's export (their access request) needs the subject in the caller's scope; a
    // cycle's export leaves out whom the caller may not see.
    if (q->subject_case() == v1::ExportRequest::kEmployeeId && !v.SeesEverything() &&
        !v.Visible(v1::FIELD_CLASS_EVALUATION, Subject::Employee(q->employee_id()))) {
      return ToGrpc(absl::PermissionDeniedError(
          absl::StrCat("employee_id: ", q->employee_id(), " is outside the caller's scope")));
    }
    v1::RecordedEvent copy;
    return ToGrpc(projections::Export(*deps_->log, *q, [&](const v1::RecordedEvent& e) {
      if (c->IsCancelled() || deps_->stopping.load()) return false;
      copy = e;
      return !RedactRecorded(v, copy) || w->Write(copy);
    }));
  }

 private:
  grpc::Status Check(grpc::ServerContext* c) {
    auto principal = deps_->auth->Authenticate(*c);
    if (!principal.ok()) return ToGrpc(principal.status());
    return ToGrpc(Authorize(*principal, Operation::kAudit));
  }

  absl::StatusOr<std::unique_ptr<Viewer>> ViewerFor(grpc::ServerContext* c, Operation op) {
    auto principal = deps_->auth->Authenticate(*c);
    if (!principal.ok()) return principal.status();
    if (absl::Status s = Authorize(*principal, op); !s.ok()) return s;
    return std::make_unique<Viewer>(*deps_->access, *principal);
  }

  ChainCheckOptions Options(grpc::ServerContext* c,
                            grpc::ServerWriter<v1::ChainCheckResponse>* w, uint64_t every) {
    ChainCheckOptions options;
    options.progress_every = every;
    options.progress = [this, c, w](uint64_t done, uint64_t total) {
      if (c->IsCancelled() || deps_->stopping.load()) return false;
      v1::ChainCheckResponse r;
      r.mutable_progress()->set_events_done(done);
      r.mutable_progress()->set_events_total(total);
      return w->Write(r);
    };
    return options;
  }

  grpc::Status Stream(grpc::ServerContext*, grpc::ServerWriter<v1::ChainCheckResponse>* w,
                      absl::StatusOr<v1::ChainVerdict> verdict) {
    if (!verdict.ok()) return ToGrpc(verdict.status());
    v1::ChainCheckResponse r;
    *r.mutable_verdict() = std::move(*verdict);
    if (!w->Write(r)) return grpc::Status::CANCELLED;
    return grpc::Status::OK;
  }

  ServiceDeps* deps_;
  std::atomic<uint64_t> next_scratch_{0};
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAuditService(ServiceDeps* deps) {
  return std::make_unique<AuditService>(deps);
}

}  // namespace perfledger::services
