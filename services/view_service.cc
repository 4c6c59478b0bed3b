// Queries over the views. Thin: authenticate, wait for min_position, run the query.
#include "absl/strings/str_cat.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "projections/hook_queries.h"
#include "projections/queries.h"
#include "projections/recognition_queries.h"
#include "ledger/sealing.h"
#include "ledger/status_macros.h"
#include "projections/suppression.h"
#include "ledger/limits.h"
#include "services/server.h"
#include "services/status_map.h"
#include "services/unseal.h"

namespace perfledger::services {
namespace {

// Read-your-writes waits at most this long, and never past the call's own deadline.
constexpr absl::Duration kConsistencyWaitMax =
    absl::Milliseconds(limits::kConsistencyWaitMillisMax);

using google::protobuf::RepeatedPtrField;

// Keeps the rows `keep` accepts, in order.
template <typename Row, typename Keep>
void KeepRows(RepeatedPtrField<Row>* rows, Keep&& keep) {
  int out = 0;
  for (int i = 0; i < rows->size(); i++) {
    if (!keep(*rows->Mutable(i))) continue;
    if (out != i) rows->SwapElements(out, i);
    out++;
  }
  while (rows->size() > out) rows->RemoveLast();
}

// Rows about people: kept when the caller sees `row_class` (or `alternative`) about the row's
// employee, then redacted field by field.
template <typename Row>
void ScopeRows(Viewer& viewer, RepeatedPtrField<Row>* rows, v1::FieldClass row_class,
               v1::FieldClass alternative = v1::FIELD_CLASS_UNSPECIFIED) {
  if (viewer.SeesEverything()) return;
  KeepRows(rows, [&](Row& row) {
    const Subject subject = Subject::Employee(row.employee_id());
    if (!viewer.Visible(row_class, subject) &&
        (alternative == v1::FIELD_CLASS_UNSPECIFIED || !viewer.Visible(alternative, subject))) {
      return false;
    }
    Redact(viewer, subject, row, row.mutable_withheld());
    return true;
  });
}

// A goal node is about its owner; org-unit goals (strategy) are shown to everyone who reads
// evaluations, so people can see what their goals align to. Hidden nodes go with their subtree.
void ScopeGoals(Viewer& viewer, RepeatedPtrField<v1::GoalNode>* nodes) {
  KeepRows(nodes, [&](v1::GoalNode& node) {
    if (node.owner_kind() == v1::OWNER_KIND_EMPLOYEE) {
      const Subject subject = Subject::Employee(node.owner_id());
      if (!viewer.Visible(v1::FIELD_CLASS_EVALUATION, subject)) return false;
      Redact(viewer, subject, node, node.mutable_withheld());
    }
    ScopeGoals(viewer, node.mutable_children());
    return true;
  });
}

class ViewsService final : public v1::Views::Service {
 public:
  explicit ViewsService(ServiceDeps* deps) : deps_(deps) {}

  grpc::Status GetRanking(grpc::ServerContext* c, const v1::RankingRequest* q,
                          v1::RankingResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r)
                     -> absl::StatusOr<v1::RankingResponse> {
      if (RoleReach(v.principal().role, v1::FIELD_CLASS_EVALUATION) == Reach::kNone) {
        return absl::PermissionDeniedError("evaluation: not readable by this role");
      }
      auto answer = projections::QueryRanking(r, *q);
      if (answer.ok()) ScopeRows(v, answer->mutable_entries(), v1::FIELD_CLASS_EVALUATION);
      return answer;
    });
  }
  grpc::Status GetUnitRanking(grpc::ServerContext* c, const v1::UnitRankingRequest* q,
                              v1::UnitRankingResponse* out) override {
    // Roll-ups are the reactor's: read-your-writes waits for it, not for the views.
    return QueryOn(deps_->reactor->projector(), c, q->consistency(), out,
                   [&](Viewer& v, const projections::Projector::Reader&)
                       -> absl::StatusOr<v1::UnitRankingResponse> {
      if (RoleReach(v.principal().role, v1::FIELD_CLASS_METRICS) == Reach::kNone) {
        return absl::PermissionDeniedError("metrics: not readable by this role");
      }
      if (!q->parent_org_unit_id().empty() &&
          !v.Visible(v1::FIELD_CLASS_METRICS, Subject::OrgUnit(q->parent_org_unit_id()))) {
        return absl::PermissionDeniedError(absl::StrCat(
            "parent_org_unit_id: ", q->parent_org_unit_id(), " is outside the caller's scope"));
      }
      return deps_->reactor->UnitRanking(
          *q,
          [&](const std::string& unit) {
            return v.Visible(v1::FIELD_CLASS_METRICS, Subject::OrgUnit(unit));
          },
          v.SeesSmallGroups() ? 0 : deps_->config->min_group_size);
    });
  }
  grpc::Status GetDistribution(grpc::ServerContext* c, const v1::DistributionRequest* q,
                               v1::DistributionResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r)
                     -> absl::StatusOr<v1::DistributionResponse> {
      if (RoleReach(v.principal().role, v1::FIELD_CLASS_EVALUATION) == Reach::kNone) {
        return absl::PermissionDeniedError("evaluation: not readable by this role");
      }
      if (v.principal().role == v1::ROLE_HR && !v.principal().org_units.empty() &&
          (q->org_unit_id().empty() || !v.InScope(Subject::OrgUnit(q->org_unit_id())))) {
        return absl::PermissionDeniedError(
            "org_unit_id: an hr token limited to org units reads their distributions only");
      }
      auto answer = projections::QueryDistribution(r, *q);
      if (!answer.ok() || v.SeesSmallGroups()) return answer;
      const uint32_t k = deps_->config->min_group_size;
      std::vector<uint64_t> counts;
      for (const auto& g : answer->grades()) counts.push_back(g.count());
      const projections::Suppression hide = projections::SuppressSmallCells(counts, k);
      for (int i = 0; i < answer->grades_size(); i++) {
        if (!hide.cells[i]) continue;
        auto* g = answer->mutable_grades(i);
        g->clear_count();
        g->clear_share_bp();
        g->set_suppressed(true);
      }
      answer->set_min_group_size(k);
      if (hide.total) {
        answer->clear_total();
        answer->set_total_suppressed(true);
      }
      return answer;
    });
  }
  grpc::Status GetTimeline(grpc::ServerContext* c, const v1::TimelineRequest* q,
                           v1::TimelineResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r)
                     -> absl::StatusOr<v1::TimelineResponse> {
      if (!v.Visible(v1::FIELD_CLASS_EVALUATION, Subject::Employee(q->employee_id()))) {
        return absl::PermissionDeniedError(absl::StrCat(
            "employee_id: ", q->employee_id(), " is outside the caller's scope"));
      }
      auto answer = projections::QueryTimeline(r, *q);
      if (answer.ok()) {
        KeepRows(answer->mutable_events(),
                 [&](v1::RecordedEvent& e) { return RedactRecorded(v, e); });
      }
      return answer;
    });
  }
  grpc::Status GetCheckIns(grpc::ServerContext* c, const v1::CheckInsRequest* q,
                           v1::CheckInsResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r)
                     -> absl::StatusOr<v1::CheckInsResponse> {
      if (!v.Visible(v1::FIELD_CLASS_CONVERSATION, Subject::Employee(q->employee_id()))) {
        return absl::PermissionDeniedError(absl::StrCat(
            "employee_id: ", q->employee_id(), " is outside the caller's scope"));
      }
      auto answer = projections::QueryCheckIns(r, *q, absl::Now());
      if (!answer.ok()) return answer;
      UnsealCheckIns(v, answer->mutable_entries());
      ScopeRows(v, answer->mutable_entries(), v1::FIELD_CLASS_CONVERSATION);
      return answer;
    });
  }
  grpc::Status GetGoalTree(grpc::ServerContext* c, const v1::GoalTreeRequest* q,
                           v1::GoalTreeResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r)
                     -> absl::StatusOr<v1::GoalTreeResponse> {
      if (RoleReach(v.principal().role, v1::FIELD_CLASS_EVALUATION) == Reach::kNone) {
        return absl::PermissionDeniedError("evaluation: not readable by this role");
      }
      auto answer = projections::QueryGoalTree(r, *q);
      if (answer.ok() && !v.SeesEverything()) ScopeGoals(v, answer->mutable_roots());
      return answer;
    });
  }

  grpc::Status GetProjectionStatus(grpc::ServerContext* c, const v1::ProjectionStatusRequest* q,
                                   v1::ProjectionStatusResponse* out) override {
    if (grpc::Status s = Check(c, Operation::kReadStatus); !s.ok()) return s;
    projections::Projector& p = *deps_->projector;
    const LogEnds applied = p.Applied();
    for (PartitionId p : applied.partitions()) {
      auto* pos = out->add_applied();
      pos->set_partition(p.value());
      pos->set_offset(applied[p].value());
    }
    out->set_lag_events(p.Lag());
    out->set_events_applied(p.events_applied());
    if (q->digests()) {
      auto digests = p.Digests();
      if (!digests.ok()) return ToGrpc(digests.status());
      for (const auto& d : *digests) {
        auto* v = out->add_views();
        v->set_view(d.view);
        v->set_digest(d.digest_hex);
        v->set_rows(d.rows);
      }
    }
    return ToGrpc(p.health());
  }

  grpc::Status Rebuild(grpc::ServerContext* c, const v1::RebuildRequest*,
                       v1::RebuildResponse* out) override {
    if (grpc::Status s = Check(c, Operation::kAdmin); !s.ok()) return s;
    const absl::Time start = absl::Now();
    projections::Projector& p = *deps_->projector;
    if (absl::Status s = p.Rebuild(absl::FromChrono(c->deadline())); !s.ok()) return ToGrpc(s);
    out->set_events_applied(p.events_applied());
    out->set_seconds(absl::ToDoubleSeconds(absl::Now() - start));
    auto digests = p.Digests();
    if (!digests.ok()) return ToGrpc(digests.status());
    for (const auto& d : *digests) {
      auto* v = out->add_views();
      v->set_view(d.view);
      v->set_digest(d.digest_hex);
      v->set_rows(d.rows);
    }
    return grpc::Status::OK;
  }

  // Payroll items: payroll sees every amount; employees their own items; managers their
  // reports' items with the amounts withheld.
  grpc::Status ListPayrollItems(grpc::ServerContext* c, const v1::ListPayrollItemsRequest* q,
                                v1::ListPayrollItemsResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r) {
      auto answer = projections::QueryPayrollItems(r, *q);
      if (answer.ok()) {
        UnsealPayroll(v, answer->mutable_items());
        ScopeRows(v, answer->mutable_items(), v1::FIELD_CLASS_COMPENSATION,
                  v1::FIELD_CLASS_EVALUATION);
      }
      return answer;
    });
  }
  grpc::Status ListTraining(grpc::ServerContext* c, const v1::ListTrainingRequest* q,
                            v1::ListTrainingResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r) {
      auto answer = projections::QueryTraining(r, *q);
      if (answer.ok()) {
        ScopeRows(v, answer->mutable_records(), v1::FIELD_CLASS_TRAINING,
                  v1::FIELD_CLASS_EVALUATION);
      }
      return answer;
    });
  }
  grpc::Status GetTrainingSummary(grpc::ServerContext* c, const v1::TrainingSummaryRequest* q,
                                  v1::TrainingSummaryResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r)
                     -> absl::StatusOr<v1::TrainingSummaryResponse> {
      const Reach reach = RoleReach(v.principal().role, v1::FIELD_CLASS_TRAINING);
      if (reach == Reach::kNone) return absl::PermissionDeniedError("training: not readable by this role");
      auto answer = projections::QueryTrainingSummary(r, *q);
      if (!answer.ok() || v.SeesSmallGroups() || reach == Reach::kAll) return answer;
      // Outside HR, a count of fewer than k people is hidden, and the mean that one of them
      // could be recovered from with it.
      const uint32_t k = deps_->config->min_group_size;
      auto hide = [&](const char* name, uint64_t count, auto clear) {
        if (count > 0 && count < k) {
          clear();
          answer->add_withheld(name);
        }
      };
      hide("recommended", answer->recommended(), [&] { answer->clear_recommended(); });
      hide("enrolled", answer->enrolled(), [&] { answer->clear_enrolled(); });
      hide("cancelled", answer->cancelled(), [&] { answer->clear_cancelled(); });
      const uint64_t completed = answer->completed();
      hide("passed", answer->passed(), [&] { answer->clear_passed(); });
      hide("completed", completed, [&] {
        answer->clear_completed();
        answer->clear_mean_score_milli();
        answer->add_withheld("mean_score_milli");
      });
      return answer;
    });
  }
  grpc::Status GetErasureStatus(grpc::ServerContext* c, const v1::ErasureStatusRequest* q,
                                v1::ErasureStatusResponse* out) override {
    // The write model knows of an erasure as soon as it is durable; the timeline, where its
    // event is read from, a moment later. Only an authenticated reader waits for it.
    if (grpc::Status s = Check(c, Operation::kReadViews); !s.ok()) return s;
    if (deps_->access->IsErased(q->employee_id())) {
      deps_->projector
          ->WaitCaughtUp(
              std::min(absl::FromChrono(c->deadline()), absl::Now() + kConsistencyWaitMax))
          .IgnoreError();
    }
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r)
                     -> absl::StatusOr<v1::ErasureStatusResponse> {
      const v1::Role role = v.principal().role;
      const Subject subject = Subject::Employee(q->employee_id());
      const bool may = role == v1::ROLE_ADMIN || role == v1::ROLE_AUDITOR ||
                       ((role == v1::ROLE_HR || role == v1::ROLE_EMPLOYEE) && v.InScope(subject));
      if (!may) {
        return absl::PermissionDeniedError(absl::StrCat(
            "employee_id: the erasure status of ", q->employee_id(), " is not for ",
            v1::Role_Name(role), " ", v.principal().name));
      }
      if (!v.access().IsEmployee(q->employee_id())) {
        return absl::NotFoundError(
            absl::StrCat("employee_id: employee ", q->employee_id(), " not found"));
      }
      v1::ErasureStatusResponse answer;
      answer.set_employee_id(q->employee_id());
      answer.set_erased(v.access().IsErased(q->employee_id()));
      if (answer.erased()) {
        // The erasure event is on the employee's timeline (the views applied it: see above).
        v1::TimelineRequest page;
        page.set_employee_id(q->employee_id());
        page.set_page_size(1000);
        for (int pages = 0; pages < 10'000; pages++) {
          ASSIGN_OR_RETURN(v1::TimelineResponse t, projections::QueryTimeline(r, page));
          for (const auto& e : t.events()) {
            if (e.event().has_subject_erased()) *answer.mutable_erasure() = e;
            if (e.event().has_retention_ended()) *answer.mutable_retention_ended() = e;
          }
          if (t.next_page_token().empty()) break;
          page.set_page_token(t.next_page_token());
        }
      }
      ASSIGN_OR_RETURN(std::vector<v1::ErasureAcknowledgement> acks,
                       projections::QueryErasureAcknowledgements(r, EmployeeId(q->employee_id())));
      for (auto& a : acks) *answer.add_acknowledgements() = std::move(a);
      for (KeyPurpose purpose : {KeyPurpose::kPersonal, KeyPurpose::kRetained}) {
        auto* key = answer.add_keys();
        key->set_key_id(absl::StrCat(std::string(KeyPurposeName(purpose)), "/", q->employee_id()));
        if (purpose == KeyPurpose::kRetained && answer.has_erasure()) {
          *key->mutable_retained_until() = answer.erasure().event().subject_erased().retained_until();
        }
        if (Sealer* sealer = v.access().sealer(); sealer != nullptr) {
          ASSIGN_OR_RETURN(KeyState state, sealer->keys()->State(q->employee_id(), purpose));
          key->set_destroyed(state == KeyState::kDestroyed);
        }
      }
      return answer;
    });
  }

  grpc::Status ListPips(grpc::ServerContext* c, const v1::ListPipsRequest* q,
                        v1::ListPipsResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r) {
      auto answer = projections::QueryPips(r, *q);
      if (answer.ok()) ScopeRows(v, answer->mutable_plans(), v1::FIELD_CLASS_EVALUATION);
      return answer;
    });
  }

  // Disputes: an employee sees their own, a manager their scope (the grounds and the reason
  // too: conversations in scope), hr all (an hr token its subtrees), auditors all, read-only.
  grpc::Status ListDisputes(grpc::ServerContext* c, const v1::ListDisputesRequest* q,
                            v1::ListDisputesResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r) {
      auto answer = projections::QueryDisputes(r, *q);
      if (answer.ok()) {
        UnsealDisputes(v, answer->mutable_disputes());
        ScopeRows(v, answer->mutable_disputes(), v1::FIELD_CLASS_EVALUATION);
      }
      return answer;
    });
  }
  // Recognition: each item through the one decision (Access::SeesRecognition); payroll and the
  // LMS read none of it.
  grpc::Status GetRecognitionFeed(grpc::ServerContext* c, const v1::RecognitionFeedRequest* q,
                                  v1::RecognitionFeedResponse* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r)
                     -> absl::StatusOr<v1::RecognitionFeedResponse> {
      if (RoleReach(v.principal().role, v1::FIELD_CLASS_CONVERSATION) == Reach::kNone) {
        return absl::PermissionDeniedError("recognition: not readable by this role");
      }
      auto answer = projections::QueryRecognitionFeed(r, *q, [&](const RecognitionItem& item) {
        return v.access().SeesRecognition(v.principal(), item);
      });
      if (answer.ok()) UnsealRecognition(v, answer->mutable_items());
      return answer;
    });
  }
  grpc::Status GetCase(grpc::ServerContext* c, const v1::GetCaseRequest* q,
                       v1::CaseFile* out) override {
    return Query(c, q->consistency(), out, [&](Viewer& v, const projections::Projector::Reader& r)
                     -> absl::StatusOr<v1::CaseFile> {
      if (RoleReach(v.principal().role, v1::FIELD_CLASS_CONVERSATION) == Reach::kNone) {
        return absl::PermissionDeniedError("recognition: not readable by this role");
      }
      ASSIGN_OR_RETURN(v1::CaseFile answer, projections::QueryCase(r, q->case_id()));
      if (!v.access().SeesRecognition(v.principal(), projections::AudienceOf(answer))) {
        return absl::PermissionDeniedError(absl::StrCat(
            "case_id: case ", q->case_id(), " is not for ", v1::Role_Name(v.principal().role),
            " ", v.principal().name));
      }
      UnsealCase(v, answer);
      return answer;
    });
  }

 private:
  grpc::Status Check(grpc::ServerContext* c, Operation op) {
    auto principal = deps_->auth->Authenticate(*c);
    if (!principal.ok()) return ToGrpc(principal.status());
    return ToGrpc(Authorize(*principal, op));
  }

  // Every query: authenticate, authorize, wait for min_position, then run `fn` with the
  // caller's Viewer, which scopes and redacts the answer (ledger/access.h).
  template <typename Response, typename Fn>
  grpc::Status Query(grpc::ServerContext* c, const v1::Consistency& consistency, Response* out,
                     Fn&& fn) {
    return QueryOn(*deps_->projector, c, consistency, out, std::forward<Fn>(fn));
  }

  // A query over the rows of projector `p`.
  template <typename Response, typename Fn>
  grpc::Status QueryOn(projections::Projector& p, grpc::ServerContext* c,
                       const v1::Consistency& consistency, Response* out, Fn&& fn) {
    auto principal = deps_->auth->Authenticate(*c);
    if (!principal.ok()) return ToGrpc(principal.status());
    if (absl::Status s = Authorize(*principal, Operation::kReadViews); !s.ok()) return ToGrpc(s);
    if (!consistency.min_position().empty()) {
      const absl::Time deadline =
          std::min(absl::FromChrono(c->deadline()), absl::Now() + kConsistencyWaitMax);
      std::vector<LogPosition> positions;
      for (const v1::Position& pos : consistency.min_position()) {
        positions.push_back(PositionOf(pos));
      }
      if (absl::Status s = p.WaitFor(positions, deadline); !s.ok()) return ToGrpc(s);
    }
    Viewer viewer(*deps_->access, *principal);
    auto reader = p.Read();
    auto result = fn(viewer, reader);
    if (!result.ok()) return ToGrpc(result.status());
    *out = std::move(*result);
    return grpc::Status::OK;
  }

  ServiceDeps* deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeViewsService(ServiceDeps* deps) {
  return std::make_unique<ViewsService>(deps);
}

}  // namespace perfledger::services
