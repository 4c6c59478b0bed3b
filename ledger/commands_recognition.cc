// Recognition and the case library (docs/RECOGNITION.md): praise between people, rate-limited
// per giver; cases nominated by a manager or hr, published only with every subject's consent
// and hr's approval, withdrawn for good by the nominator, hr or a subject's withdrawn consent.
// Each command validates all of its input before it decides anything, so a rejection names the
// field and writes nothing. Nothing here feeds a grade: the policy reactor reads none of these
// events.
#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ledger/decision.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/recognition.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {
namespace {

using Ids = google::protobuf::RepeatedPtrField<std::string>;

bool Contains(const Ids& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// Each id of the list `field` well-formed and named once.
absl::Status CheckIdList(std::string_view field, const Ids& ids) {
  for (int i = 0; i < ids.size(); i++) {
    const std::string f = absl::StrCat(std::string(field), "[", i, "]");
    RETURN_IF_ERROR(CheckId(f, ids[i], Presence::kRequired));
    for (int j = 0; j < i; j++) {
      if (ids[j] == ids[i]) return FieldError(f, absl::StrCat(ids[i], " is named twice"));
    }
  }
  return absl::OkStatus();
}

std::string Caller(const Principal& p) {
  return p.employee_id.empty() ? absl::StrCat(v1::Role_Name(p.role), " ", p.name)
                               : absl::StrCat(v1::Role_Name(p.role), " ", p.employee_id);
}

bool IsHrOrAdmin(const Principal& p) {
  return p.role == v1::ROLE_HR || p.role == v1::ROLE_ADMIN;
}

// A fact about pay: a salary adjustment or bonus, or a salary change. Cases never point at one.
std::optional<std::string> CompensationFact(const v1::Event& event) {
  if (event.has_action_triggered()) {
    const v1::ActionKind kind = event.action_triggered().kind();
    if (kind == v1::ACTION_KIND_SALARY_ADJUSTMENT) return "a salary adjustment";
    if (kind == v1::ACTION_KIND_BONUS) return "a bonus";
  }
  if (event.has_employee_updated()) {
    for (const std::string& c : event.employee_updated().changed()) {
      if (c == "base_salary" || c == "band_midpoint") return "a salary change";
    }
  }
  if (event.has_employee_registered()) return "a hiring record with its salary";
  return std::nullopt;
}

absl::Status NotCompensation(std::string_view field, const std::string& id,
                             const v1::Event& event) {
  if (std::optional<std::string> what = CompensationFact(event)) {
    return FieldError(field, absl::StrCat(id, " is ", *what,
                                          ": compensation never appears in a case"));
  }
  return absl::OkStatus();
}

absl::Status SubjectOfCase(std::string_view field, const std::string& id,
                           const std::string& employee, const Ids& subjects) {
  if (Contains(subjects, employee)) return absl::OkStatus();
  return FieldError(field, absl::StrCat(id, " is about ", employee, ", not a subject of the case"));
}

// The case `case_id`, which must exist.
absl::StatusOr<internal::CaseState> CaseOf(Decision& d, const std::string& case_id) {
  RETURN_IF_ERROR(CheckId("case_id", case_id, Presence::kRequired));
  auto e = d.Find(CaseStream(case_id));
  if (!e || !e->has_case_file()) {
    return absl::NotFoundError(absl::StrCat("case_id: case ", case_id, " not found"));
  }
  return e->case_file();
}

// The nominator, or hr (every subject in its scope) or admin, may `verb` the case.
absl::Status RequireNominatorOrHr(Decision& d, const std::string& case_id,
                                  const internal::CaseState& c, std::string_view verb) {
  const Principal& p = d.principal();
  if (!p.employee_id.empty() && p.employee_id == c.nominator_id()) return absl::OkStatus();
  if (IsHrOrAdmin(p)) {
    for (const std::string& s : c.subject_ids()) RETURN_IF_ERROR(d.RequireScope("case_id", s));
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("case_id: only the nominator, hr or admin ",
                                                  std::string(verb), " case ", case_id, ", not ",
                                                  Caller(p)));
}

absl::Status NotWithdrawn(const std::string& case_id, const internal::CaseState& c) {
  if (!c.withdrawn()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("case_id: case ", case_id, " was withdrawn"));
}

}  // namespace

absl::StatusOr<v1::Event> Ledger::IndexedEvent(std::string_view field,
                                               const std::string& event_id) {
  std::optional<WriteModel::IndexedEvent> found = write_model_->FindEvent(event_id);
  if (!found || !found->position) {
    // Generated ids are not indexed; neither are events recorded before positions were.
    return absl::NotFoundError(absl::StrCat(
        std::string(field), ": event ", event_id,
        " not found (name events by the id the client gave them, or grades by any id)"));
  }
  ASSIGN_OR_RETURN(std::vector<StoredEvent> stored,
                   log_->Read(found->position->partition, found->position->offset, 1));
  v1::Event event;
  if (stored.empty() || stored[0].event_id() != event_id ||
      !event.ParseFromString(stored[0].payload())) {
    return absl::DataLossError(absl::StrCat("event ", event_id, " is indexed at ",
                                            found->position->partition, ":",
                                            found->position->offset, " but is not there"));
  }
  return event;
}

absl::Status Ledger::CheckCaseEvidence(Decision& d, const v1::CaseEvidence& ev,
                                       const Ids& subjects) {
  // Shapes first: a malformed id is reported before any lookup.
  const size_t total = static_cast<size_t>(ev.goal_ids_size() + ev.key_results_size() +
                                           ev.metric_event_ids_size() +
                                           ev.grade_event_ids_size() + ev.action_ids_size());
  if (total > limits::kCaseEvidenceMax) {
    return FieldError("evidence", absl::StrCat(total, " items, at most ",
                                               limits::kCaseEvidenceMax, " (kCaseEvidenceMax)"));
  }
  RETURN_IF_ERROR(CheckIdList("evidence.goal_ids", ev.goal_ids()));
  RETURN_IF_ERROR(CheckIdList("evidence.metric_event_ids", ev.metric_event_ids()));
  RETURN_IF_ERROR(CheckIdList("evidence.grade_event_ids", ev.grade_event_ids()));
  RETURN_IF_ERROR(CheckIdList("evidence.action_ids", ev.action_ids()));
  for (int i = 0; i < ev.key_results_size(); i++) {
    const std::string f = absl::StrCat("evidence.key_results[", i, "]");
    RETURN_IF_ERROR(CheckId(f + ".goal_id", ev.key_results(i).goal_id(), Presence::kRequired));
    RETURN_IF_ERROR(
        CheckId(f + ".key_result_id", ev.key_results(i).key_result_id(), Presence::kRequired));
  }

  // A goal of a subject, or of an org unit (a team's goal a subject contributed to).
  auto goal_of_subject = [&](const std::string& f,
                             const std::string& id) -> absl::StatusOr<internal::GoalState> {
    ASSIGN_OR_RETURN(internal::GoalState goal, d.Goal(f, id, GoalMust::kExist));
    if (goal.owner_kind() == v1::OWNER_KIND_EMPLOYEE) {
      RETURN_IF_ERROR(SubjectOfCase(f, absl::StrCat("goal ", id), goal.owner_id(), subjects));
    }
    return goal;
  };
  for (int i = 0; i < ev.goal_ids_size(); i++) {
    RETURN_IF_ERROR(goal_of_subject(absl::StrCat("evidence.goal_ids[", i, "]"), ev.goal_ids(i))
                        .status());
  }
  for (int i = 0; i < ev.key_results_size(); i++) {
    const std::string f = absl::StrCat("evidence.key_results[", i, "]");
    const v1::KeyResultRef& kr = ev.key_results(i);
    ASSIGN_OR_RETURN(internal::GoalState goal, goal_of_subject(f + ".goal_id", kr.goal_id()));
    if (!Contains(goal.key_result_ids(), kr.key_result_id())) {
      return absl::NotFoundError(absl::StrCat(f, ".key_result_id: goal ", kr.goal_id(),
                                              " has no key result ", kr.key_result_id()));
    }
  }
  for (int i = 0; i < ev.metric_event_ids_size(); i++) {
    const std::string f = absl::StrCat("evidence.metric_event_ids[", i, "]");
    const std::string& id = ev.metric_event_ids(i);
    ASSIGN_OR_RETURN(v1::Event event, IndexedEvent(f, id));
    RETURN_IF_ERROR(NotCompensation(f, absl::StrCat("event ", id), event));
    if (!event.has_metric_observed()) {
      return FieldError(f, absl::StrCat("event ", id, " is not a metric observation"));
    }
    const v1::MetricObserved& m = event.metric_observed();
    if (m.subject_kind() == v1::OWNER_KIND_EMPLOYEE) {
      RETURN_IF_ERROR(SubjectOfCase(f, absl::StrCat("event ", id), m.subject_id(), subjects));
    }
  }
  for (int i = 0; i < ev.grade_event_ids_size(); i++) {
    const std::string f = absl::StrCat("evidence.grade_event_ids[", i, "]");
    const std::string& id = ev.grade_event_ids(i);
    std::string employee;
    if (auto g = d.Find(GradeEventKey(id)); g && g->has_grade_event()) {
      employee = g->grade_event().employee_id();
    } else {
      ASSIGN_OR_RETURN(v1::Event event, IndexedEvent(f, id));
      RETURN_IF_ERROR(NotCompensation(f, absl::StrCat("event ", id), event));
      if (!event.has_grade_finalized()) {
        return FieldError(f, absl::StrCat("event ", id, " is not a grade"));
      }
      employee = event.grade_finalized().employee_id();
    }
    RETURN_IF_ERROR(SubjectOfCase(f, absl::StrCat("grade ", id), employee, subjects));
  }
  for (int i = 0; i < ev.action_ids_size(); i++) {
    const std::string f = absl::StrCat("evidence.action_ids[", i, "]");
    const std::string& id = ev.action_ids(i);
    auto a = d.Find(absl::StrCat("action/", id));
    if (!a || !a->has_action()) {
      return absl::NotFoundError(absl::StrCat(f, ": action ", id, " not found"));
    }
    switch (a->action().kind()) {
      case v1::ACTION_KIND_SALARY_ADJUSTMENT:
      case v1::ACTION_KIND_BONUS:
        return FieldError(f, absl::StrCat("action ", id, " is ",
                                          a->action().kind() == v1::ACTION_KIND_BONUS
                                              ? "a bonus"
                                              : "a salary adjustment",
                                          ": compensation never appears in a case"));
      case v1::ACTION_KIND_TRAINING:
      case v1::ACTION_KIND_PROMOTION_NOMINATION:
        break;
      default:
        return FieldError(f, absl::StrCat("action ", id,
                                          " is not recognition evidence (a training or a "
                                          "promotion nomination is)"));
    }
    RETURN_IF_ERROR(
        SubjectOfCase(f, absl::StrCat("action ", id), a->action().employee_id(), subjects));
  }
  return absl::OkStatus();
}

Ledger::Result Ledger::GivePraise(const v1::GivePraiseRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("praise_id", r.praise_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("giver_id", r.giver_id(), Presence::kRequired));
    if (r.recipient_ids().empty()) return FieldError("recipient_ids", "name at least one person");
    if (static_cast<size_t>(r.recipient_ids_size()) > limits::kPraiseRecipientsMax) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "recipient_ids: ", r.recipient_ids_size(), " recipients, at most ",
          limits::kPraiseRecipientsMax, " in one praise (kPraiseRecipientsMax)"));
    }
    RETURN_IF_ERROR(CheckIdList("recipient_ids", r.recipient_ids()));
    for (int i = 0; i < r.recipient_ids_size(); i++) {
      if (r.recipient_ids(i) == r.giver_id()) {
        return FieldError(absl::StrCat("recipient_ids[", i, "]"),
                          "the giver cannot praise themselves");
      }
    }
    if (r.values().empty()) return FieldError("values", "name at least one company value");
    RETURN_IF_ERROR(CheckCount("values", r.values().size(), limits::kPraiseValuesMax));
    for (int i = 0; i < r.values_size(); i++) {
      const std::string f = absl::StrCat("values[", i, "]");
      RETURN_IF_ERROR(CheckValueTag(f, r.values(i)));
      for (int j = 0; j < i; j++) {
        if (r.values(j) == r.values(i)) return FieldError(f, "names a value twice");
      }
    }
    RETURN_IF_ERROR(CheckText("message", r.message(), Presence::kRequired));
    if (r.visibility() != v1::PRAISE_VISIBILITY_PUBLIC &&
        r.visibility() != v1::PRAISE_VISIBILITY_PRIVATE &&
        r.visibility() != v1::PRAISE_VISIBILITY_MANAGER_ONLY) {
      return FieldError("visibility", "must be PUBLIC, PRIVATE or MANAGER_ONLY");
    }
    // The giver is the caller, or the person hr or admin act for (within their scope).
    RETURN_IF_ERROR(d.RequireActing("giver_id", r.giver_id()));
    RETURN_IF_ERROR(d.RequireScope("giver_id", r.giver_id()));
    RETURN_IF_ERROR(d.Employee("giver_id", r.giver_id()).status());
    std::vector<std::string> units;
    for (int i = 0; i < r.recipient_ids_size(); i++) {
      ASSIGN_OR_RETURN(std::string unit, d.EmployeeOrgUnit(absl::StrCat("recipient_ids[", i, "]"),
                                                           r.recipient_ids(i)));
      units.push_back(std::move(unit));
    }
    const std::string stream = PraiseStream(r.praise_id());
    if (auto existing = d.Find(stream); existing && existing->version() > 0) {
      return absl::AlreadyExistsError(absl::StrCat("praise_id: praise ", r.praise_id(), " exists"));
    }
    internal::PraiseGiverState giver;
    if (auto g = d.Find(PraiseGiverKey(r.giver_id())); g && g->has_praise_giver()) {
      giver = g->praise_giver();
    }
    RETURN_IF_ERROR(CheckPraiseRate(giver, d.now()));
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_praise_given();
    p->set_praise_id(r.praise_id());
    p->set_giver_id(r.giver_id());
    *p->mutable_recipient_ids() = r.recipient_ids();
    *p->mutable_values() = r.values();
    p->set_message(r.message());
    p->set_visibility(r.visibility());
    for (auto& u : units) p->add_recipient_org_unit_ids(std::move(u));
    *p->mutable_received_at() = ToTimestamp(d.now());
    d.Emit(stream, Route::Data(r.giver_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::NominateCase(const v1::NominateCaseRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("case_id", r.case_id(), Presence::kRequired));
    if (r.subject_ids().empty()) return FieldError("subject_ids", "name at least one person");
    RETURN_IF_ERROR(CheckCount("subject_ids", r.subject_ids().size(), limits::kCaseSubjectsMax));
    RETURN_IF_ERROR(CheckIdList("subject_ids", r.subject_ids()));
    RETURN_IF_ERROR(CheckName("title", r.title(), Presence::kRequired));
    RETURN_IF_ERROR(CheckText("story", r.story(), Presence::kRequired));
    const Principal& p = d.principal();
    if (p.role != v1::ROLE_MANAGER && !IsHrOrAdmin(p)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "subject_ids: a manager (about people in their scope), hr or admin nominate cases, "
          "not ", Caller(p)));
    }
    std::vector<std::string> units;
    for (int i = 0; i < r.subject_ids_size(); i++) {
      const std::string f = absl::StrCat("subject_ids[", i, "]");
      if (!p.employee_id.empty() && r.subject_ids(i) == p.employee_id) {
        return FieldError(f, "a nominator cannot nominate themselves");
      }
      RETURN_IF_ERROR(d.RequireScope(f, r.subject_ids(i)));
      ASSIGN_OR_RETURN(std::string unit, d.EmployeeOrgUnit(f, r.subject_ids(i)));
      units.push_back(std::move(unit));
    }
    const std::string stream = CaseStream(r.case_id());
    if (auto existing = d.Find(stream); existing && existing->has_case_file()) {
      return absl::AlreadyExistsError(absl::StrCat("case_id: case ", r.case_id(), " exists"));
    }
    RETURN_IF_ERROR(CheckCaseEvidence(d, r.evidence(), r.subject_ids()));
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* c = e.mutable_case_nominated();
    c->set_case_id(r.case_id());
    c->set_nominator_id(p.employee_id);
    *c->mutable_subject_ids() = r.subject_ids();
    c->set_title(r.title());
    c->set_story(r.story());
    *c->mutable_evidence() = r.evidence();
    for (auto& u : units) c->add_subject_org_unit_ids(std::move(u));
    d.Emit(stream, Route::Data(r.subject_ids(0)), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::RecordCaseConsent(const v1::RecordCaseConsentRequest& r,
                                         const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("case_id", r.case_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("subject_id", r.subject_id(), Presence::kRequired));
    if (r.consent() != v1::CASE_CONSENT_GIVEN && r.consent() != v1::CASE_CONSENT_WITHDRAWN) {
      return FieldError("consent", "must be GIVEN or WITHDRAWN");
    }
    ASSIGN_OR_RETURN(internal::CaseState c, CaseOf(d, r.case_id()));
    if (!Contains(c.subject_ids(), r.subject_id())) {
      return FieldError("subject_id", absl::StrCat(r.subject_id(), " is not a subject of case ",
                                                   r.case_id()));
    }
    // Consent is the subject's own: theirs, or recorded by hr or admin on their behalf.
    RETURN_IF_ERROR(d.RequireActing("subject_id", r.subject_id()));
    RETURN_IF_ERROR(d.RequireScope("subject_id", r.subject_id()));
    RETURN_IF_ERROR(NotWithdrawn(r.case_id(), c));
    const std::string stream = CaseStream(r.case_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    const std::string route = c.subject_ids(0);
    v1::Event e;
    auto* k = e.mutable_case_consent_recorded();
    k->set_case_id(r.case_id());
    k->set_subject_id(r.subject_id());
    k->set_consent(r.consent());
    d.Emit(stream, Route::Data(route), std::move(e));
    // Consent withdrawn from a published case takes it out of the library for good.
    if (r.consent() == v1::CASE_CONSENT_WITHDRAWN && c.published()) {
      v1::Event w;
      auto* x = w.mutable_case_withdrawn();
      x->set_case_id(r.case_id());
      x->set_by(v1::CASE_WITHDRAWN_BY_SUBJECT);
      x->set_subject_id(r.subject_id());
      d.Emit(stream, Route::Data(route), std::move(w));
    }
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::ReviewCase(const v1::ReviewCaseRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("case_id", r.case_id(), Presence::kRequired));
    if (r.decision() != v1::CASE_REVIEW_DECISION_APPROVED &&
        r.decision() != v1::CASE_REVIEW_DECISION_REJECTED) {
      return FieldError("decision", "must be APPROVED or REJECTED");
    }
    ASSIGN_OR_RETURN(internal::CaseState c, CaseOf(d, r.case_id()));
    RETURN_IF_ERROR(d.RequireHr("decision"));
    for (const std::string& s : c.subject_ids()) RETURN_IF_ERROR(d.RequireScope("case_id", s));
    RETURN_IF_ERROR(NotWithdrawn(r.case_id(), c));
    if (c.published()) {
      return absl::FailedPreconditionError(
          absl::StrCat("case_id: case ", r.case_id(), " is already published"));
    }
    const std::string stream = CaseStream(r.case_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* v = e.mutable_case_reviewed();
    v->set_case_id(r.case_id());
    v->set_decision(r.decision());
    d.Emit(stream, Route::Data(c.subject_ids(0)), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::PublishCase(const v1::PublishCaseRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    ASSIGN_OR_RETURN(internal::CaseState c, CaseOf(d, r.case_id()));
    RETURN_IF_ERROR(RequireNominatorOrHr(d, r.case_id(), c, "publish"));
    RETURN_IF_ERROR(NotWithdrawn(r.case_id(), c));
    if (c.published()) {
      return absl::FailedPreconditionError(
          absl::StrCat("case_id: case ", r.case_id(), " is already published"));
    }
    std::vector<std::string> missing;
    for (const std::string& s : c.subject_ids()) {
      if (!Contains(c.consented_ids(), s)) missing.push_back(s);
    }
    if (!missing.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("consent: ", absl::StrJoin(missing, ", "),
                       missing.size() == 1 ? " has" : " have", " not consented to case ",
                       r.case_id()));
    }
    if (c.review() != v1::CASE_REVIEW_DECISION_APPROVED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "review: case ", r.case_id(),
          c.review() == v1::CASE_REVIEW_DECISION_REJECTED ? " was rejected by hr"
                                                          : " is not approved by hr yet"));
    }
    const std::string stream = CaseStream(r.case_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_case_published();
    p->set_case_id(r.case_id());
    *p->mutable_subject_ids() = c.subject_ids();
    d.Emit(stream, Route::Data(c.subject_ids(0)), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::WithdrawCase(const v1::WithdrawCaseRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    ASSIGN_OR_RETURN(internal::CaseState c, CaseOf(d, r.case_id()));
    RETURN_IF_ERROR(RequireNominatorOrHr(d, r.case_id(), c, "withdraw"));
    RETURN_IF_ERROR(NotWithdrawn(r.case_id(), c));
    const std::string stream = CaseStream(r.case_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    const Principal& p = d.principal();
    v1::Event e;
    auto* w = e.mutable_case_withdrawn();
    w->set_case_id(r.case_id());
    w->set_by(!p.employee_id.empty() && p.employee_id == c.nominator_id()
                  ? v1::CASE_WITHDRAWN_BY_NOMINATOR
                  : v1::CASE_WITHDRAWN_BY_HR);
    d.Emit(stream, Route::Data(c.subject_ids(0)), std::move(e));
    return absl::OkStatus();
  });
}

}  // namespace perfledger
